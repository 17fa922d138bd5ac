#define _GNU_SOURCE
#include "CSupervisorShims.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <pthread.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/// Sets FD_CLOEXEC on every descriptor from 3 up: with close_range(2) where it takes the flag (Linux 5.11), else on
/// each one /proc/self/fd lists.
static void mark_all_cloexec(void) {
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0) {
        return;
    }
    DIR *directory = opendir("/proc/self/fd");
    if (directory == NULL) {
        return;
    }
    int own = dirfd(directory);
    struct dirent *entry;
    while ((entry = readdir(directory)) != NULL) {
        int fd = atoi(entry->d_name);
        if (fd >= 3 && fd != own) {
            int flags = fcntl(fd, F_GETFD);
            if (flags >= 0) {
                fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
            }
        }
    }
    closedir(directory);
}

static void set_cloexec(const int *fds, int count, int on) {
    for (int i = 0; i < count; i++) {
        int flags = fcntl(fds[i], F_GETFD);
        if (flags >= 0) {
            fcntl(fds[i], F_SETFD, on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC));
        }
    }
}

int supervisor_exec_keeping(int executable_fd, const char *path, char *const argv[], char *const envp[],
                            const int *keep, int keep_count) {
    // Blocked in this thread, the one that survives the exec: a signal that comes meanwhile stays pending through the
    // exec (the mask and pending signals are kept) instead of meeting the default disposition, which ends the
    // process for SIGHUP and SIGTERM. The new program unblocks them once its handlers are in place.
    sigset_t blocked, previous;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGHUP);
    sigaddset(&blocked, SIGTERM);
    sigaddset(&blocked, SIGINT);
    sigaddset(&blocked, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &blocked, &previous);
    mark_all_cloexec();
    set_cloexec(keep, keep_count, 0);
    if (executable_fd >= 0) {
        syscall(SYS_execveat, executable_fd, "", argv, envp, AT_EMPTY_PATH);
    } else {
        execve(path, argv, envp);
    }
    int error = errno;
    set_cloexec(keep, keep_count, 1);
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    return error;
}

int supervisor_unblock_stop_signals(void) {
    sigset_t unblocked;
    sigemptyset(&unblocked);
    sigaddset(&unblocked, SIGHUP);
    sigaddset(&unblocked, SIGTERM);
    sigaddset(&unblocked, SIGINT);
    sigaddset(&unblocked, SIGCHLD);
    return pthread_sigmask(SIG_UNBLOCK, &unblocked, NULL);
}
