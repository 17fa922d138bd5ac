#define _GNU_SOURCE
#include "CSupervisorShims.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

// Room for the credentials plus a few descriptors; more descriptors than fit set MSG_CTRUNC, and the kernel closes
// the ones it could not deliver.
#define CONTROL_CAPACITY (CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * 16))

ssize_t supervisor_recv_datagram(int fd, void *buffer, size_t capacity, supervisor_datagram_info *info) {
    memset(info, 0, sizeof(*info));
    union {
        struct cmsghdr align;
        char bytes[CONTROL_CAPACITY];
    } control;
    struct iovec iov = {.iov_base = buffer, .iov_len = capacity};
    struct msghdr message = {0};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control.bytes;
    message.msg_controllen = sizeof(control.bytes);

    ssize_t length;
    do {
        length = recvmsg(fd, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
    } while (length < 0 && errno == EINTR);
    if (length < 0) {
        return -errno;
    }

    info->truncated = (message.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 || (size_t)length > capacity;
    for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header != NULL; header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET) {
            continue;
        }
        if (header->cmsg_type == SCM_CREDENTIALS && header->cmsg_len == CMSG_LEN(sizeof(struct ucred))) {
            struct ucred credentials;
            memcpy(&credentials, CMSG_DATA(header), sizeof(credentials));
            info->has_credentials = 1;
            info->pid = credentials.pid;
            info->uid = credentials.uid;
            info->gid = credentials.gid;
        } else if (header->cmsg_type == SCM_RIGHTS) {
            size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < count; i++) {
                int received;
                memcpy(&received, CMSG_DATA(header) + i * sizeof(int), sizeof(int));
                close(received);
                info->received_fd_count++;
            }
        }
    }
    return length;
}
