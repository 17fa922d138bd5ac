#define _GNU_SOURCE
#include "CSupervisorShims.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

// At most this many ports fit the filter (each takes 20 bytes of bytecode).
#define MAX_PORTS 64

// Bytecode that accepts a socket whose local port is one of `ports`, the way `ss` compiles `sport = :P or …`: each
// port is `S_GE P; S_LE P` (16 bytes), and a failed comparison jumps 4 bytes past the end of its own test, which is
// where the next test starts (after a 4-byte JMP) or, for the last, past the end of the program: rejected. A test
// that passes falls onto the JMP, whose target is the end of the program: accepted. The kernel checks that every jump
// lands on an instruction reached by the `yes` chain, which this layout keeps.
static size_t port_filter(const unsigned short *ports, int count, unsigned char *out) {
    size_t total = (size_t)count * 16 + (size_t)(count - 1) * 4;
    size_t offset = 0;
    for (int index = 0; index < count; index++) {
        struct inet_diag_bc_op ops[4];
        size_t rest = total - offset; // bytes from this test to the end
        ops[0] = (struct inet_diag_bc_op){.code = INET_DIAG_BC_S_GE, .yes = 8, .no = 20};
        ops[1] = (struct inet_diag_bc_op){.code = 0, .yes = 0, .no = ports[index]};
        ops[2] = (struct inet_diag_bc_op){.code = INET_DIAG_BC_S_LE, .yes = 8, .no = 12};
        ops[3] = (struct inet_diag_bc_op){.code = 0, .yes = 0, .no = ports[index]};
        memcpy(out + offset, ops, sizeof(ops));
        offset += 16;
        if (index < count - 1) {
            rest -= 16;
            struct inet_diag_bc_op jump = {.code = INET_DIAG_BC_JMP, .yes = 4, .no = (unsigned short)rest};
            memcpy(out + offset, &jump, sizeof(jump));
            offset += 4;
        }
    }
    return total;
}

int supervisor_tcp_sockets(int family, unsigned int state_mask, const unsigned short *ports, int port_count,
                           supervisor_tcp_socket *out, size_t capacity, size_t *count_out) {
    *count_out = 0;
    if (port_count < 1 || port_count > MAX_PORTS) return EINVAL;
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0) return errno;

    struct {
        struct nlmsghdr header;
        struct inet_diag_req_v2 request;
        struct rtattr attribute;
        unsigned char bytecode[MAX_PORTS * 20];
    } message;
    memset(&message, 0, sizeof(message));
    size_t bytecode_length = port_filter(ports, port_count, message.bytecode);
    message.attribute.rta_type = INET_DIAG_REQ_BYTECODE;
    message.attribute.rta_len = (unsigned short)RTA_LENGTH(bytecode_length);
    message.header.nlmsg_len =
        (unsigned int)(NLMSG_LENGTH(sizeof(struct inet_diag_req_v2)) + RTA_SPACE(bytecode_length));
    message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    message.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    message.header.nlmsg_seq = 1;
    message.request.sdiag_family = (unsigned char)family;
    message.request.sdiag_protocol = IPPROTO_TCP;
    message.request.idiag_states = state_mask;

    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    ssize_t sent;
    do {
        sent = sendto(fd, &message, message.header.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel));
    } while (sent < 0 && errno == EINTR);
    if (sent < 0) {
        int error = errno;
        close(fd);
        return error;
    }

    // Answers come in datagrams of several messages each, until NLMSG_DONE.
    static __thread unsigned char buffer[32768] __attribute__((aligned(NLMSG_ALIGNTO)));
    size_t found = 0;
    for (;;) {
        ssize_t length;
        do {
            length = recv(fd, buffer, sizeof(buffer), 0);
        } while (length < 0 && errno == EINTR);
        if (length < 0) {
            int error = errno;
            close(fd);
            return error;
        }
        if (length == 0) break;
        struct nlmsghdr *header = (struct nlmsghdr *)buffer;
        size_t remaining = (size_t)length;
        for (; NLMSG_OK(header, remaining); header = NLMSG_NEXT(header, remaining)) {
            if (header->nlmsg_type == NLMSG_DONE) {
                close(fd);
                *count_out = found;
                return 0;
            }
            if (header->nlmsg_type == NLMSG_ERROR) {
                struct nlmsgerr *failure = (struct nlmsgerr *)NLMSG_DATA(header);
                close(fd);
                return failure->error < 0 ? -failure->error : EPROTO;
            }
            if (header->nlmsg_type != SOCK_DIAG_BY_FAMILY) continue;
            struct inet_diag_msg *socket_info = (struct inet_diag_msg *)NLMSG_DATA(header);
            if (found < capacity) {
                out[found].inode = socket_info->idiag_inode;
                out[found].local_port = ntohs(socket_info->id.idiag_sport);
                out[found].state = socket_info->idiag_state;
            }
            found++;
        }
    }
    close(fd);
    *count_out = found;
    return 0;
}
