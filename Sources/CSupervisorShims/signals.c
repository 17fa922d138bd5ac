#define _GNU_SOURCE
#include "CSupervisorShims.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile int signal_pipe_write_fd = -1;

static void forward_signal(int signal_number) {
    int saved_errno = errno;
    unsigned char byte = (unsigned char)signal_number;
    // Non-blocking: when the pipe is full the reader is already behind, and each byte only says "look again".
    (void)!write(signal_pipe_write_fd, &byte, 1);
    errno = saved_errno;
}

static int install_handlers(const int *signals, int count) {
    struct sigaction action = {0};
    action.sa_handler = forward_signal;
    action.sa_flags = SA_RESTART;
    sigfillset(&action.sa_mask);
    for (int i = 0; i < count; i++) {
        if (sigaction(signals[i], &action, NULL) < 0) {
            return errno;
        }
    }
    return 0;
}

int supervisor_signal_pipe_install(const int *signals, int count, int *read_fd_out, int *write_fd_out) {
    if (signal_pipe_write_fd >= 0) {
        return EBUSY;
    }
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
        return errno;
    }
    signal_pipe_write_fd = fds[1];
    *read_fd_out = fds[0];
    *write_fd_out = fds[1];
    return install_handlers(signals, count);
}

int supervisor_signal_pipe_adopt(int write_fd, const int *signals, int count) {
    if (signal_pipe_write_fd >= 0) {
        return EBUSY;
    }
    signal_pipe_write_fd = write_fd;
    return install_handlers(signals, count);
}

int supervisor_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}

int supervisor_set_child_subreaper(void) {
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0 ? errno : 0;
}

int supervisor_memfd(const char *name) {
    return (int)syscall(SYS_memfd_create, name, 1U /* MFD_CLOEXEC */);
}

int supervisor_pidfd_open(pid_t pid) {
    return (int)syscall(SYS_pidfd_open, pid, 0U);
}

int supervisor_pidfd_send_signal(int pidfd, int signal) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, signal, NULL, 0U);
}
