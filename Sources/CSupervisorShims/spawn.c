#define _GNU_SOURCE
#include "CSupervisorShims.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

// Everything between the clone and exec must be async-signal-safe: the parent is multithreaded, and only the
// spawning thread exists in the child, so locks held by other threads (malloc, the Swift runtime) are never released.
// The child also shares the parent's memory (CLONE_VM, as glibc's posix_spawn does): it runs on a stack of its own and
// writes nothing but that stack and the pid slots of its request, which the parent, suspended meanwhile, owns.

static void write_decimal(char *out, pid_t value) {
    char reversed[12];
    int length = 0;
    do {
        reversed[length++] = (char)('0' + value % 10);
        value /= 10;
    } while (value > 0 && length < 11);
    for (int i = 0; i < length; i++) {
        out[i] = reversed[length - 1 - i];
    }
    out[length] = '\0';
}

static void report_and_exit(int error_fd, int error) {
    while (write(error_fd, &error, sizeof(error)) < 0 && errno == EINTR) {
    }
    _exit(127);
}

/// The layout getdents64 fills (glibc declares no such struct for the raw call).
struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

/// Closes every descriptor from `floor` up, through /proc/self/fd read with raw getdents64 (no malloc, no
/// locks). Returns 0, or -1 when /proc cannot be read.
static int close_listed_descriptors(int floor) {
    int directory = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (directory < 0) {
        return -1;
    }
    char buffer[4096] __attribute__((aligned(8)));
    for (;;) {
        long got = syscall(SYS_getdents64, directory, buffer, sizeof(buffer));
        if (got <= 0) {
            break;
        }
        for (long offset = 0; offset < got;) {
            struct linux_dirent64 *entry = (struct linux_dirent64 *)(buffer + offset);
            offset += entry->d_reclen;
            int fd = 0;
            const char *digit = entry->d_name;
            if (*digit < '0' || *digit > '9') {
                continue;
            }
            for (; *digit >= '0' && *digit <= '9'; digit++) {
                fd = fd * 10 + (*digit - '0');
            }
            if (fd >= floor && fd != directory) {
                close(fd);
            }
        }
    }
    close(directory);
    return 0;
}

int supervisor_close_from(int floor, int allow_close_range) {
    // close_range(2) is Linux 5.9+, and seccomp filters may refuse it: its result decides, not the kernel version.
    if (allow_close_range && syscall(SYS_close_range, (unsigned int)floor, ~0U, 0U) == 0) {
        return 0;
    }
    if (close_listed_descriptors(floor) == 0) {
        return 1;
    }
    // No /proc: every number up to the limit (the hard one: a descriptor opened under a higher soft limit stays).
    struct rlimit limit;
    rlim_t top = 65536;
    if (syscall(SYS_getrlimit, RLIMIT_NOFILE, &limit) == 0 && limit.rlim_max != RLIM_INFINITY) {
        top = limit.rlim_max < (1 << 20) ? limit.rlim_max : (1 << 20);
    }
    for (rlim_t fd = (rlim_t)floor; fd < top; fd++) {
        close((int)fd);
    }
    return 2;
}

static void child_after_fork(const supervisor_spawn_request *request, int error_fd) {
    // Every signal is blocked since before the clone (supervisor_spawn): reset the dispositions while nothing can be
    // delivered, so no handler of the parent ever runs here, then unblock.
    struct sigaction default_action = {0};
    default_action.sa_handler = SIG_DFL;
    sigemptyset(&default_action.sa_mask);
    for (int signal_number = 1; signal_number < NSIG; signal_number++) {
        if (signal_number != SIGKILL && signal_number != SIGSTOP) {
            sigaction(signal_number, &default_action, NULL);
        }
    }
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, NULL);

    if (setsid() < 0) {
        report_and_exit(error_fd, errno);
    }

    // A lower priority until the supervisor sees the instance ready and sets it back (before the user switch, though
    // any user may raise its own nice value). Not fatal: the instance only starts at the usual priority.
    if (request->nice > 0) {
        syscall(SYS_setpriority, PRIO_PROCESS, 0, request->nice);
    }
    if (request->idle) {
        struct sched_param parameters = {0};
        syscall(SYS_sched_setscheduler, 0, SCHED_IDLE, &parameters);
    }

    // Raw system calls: they change this (only) thread, and the child has no other; glibc's wrappers would try to
    // synchronise threads of the parent that do not exist here. Groups first, the user last (after it, no more
    // changes are allowed).
    if (request->switch_credentials) {
        if (syscall(SYS_setgroups, (size_t)request->group_count, request->groups) < 0 ||
            syscall(SYS_setresgid, request->gid, request->gid, request->gid) < 0 ||
            syscall(SYS_setresuid, request->uid, request->uid, request->uid) < 0) {
            report_and_exit(error_fd, errno);
        }
    }

    // Move every source above the range we are about to fill, so no dup2 overwrites a source still needed.
    const int count = request->pass_fd_count;
    const int error_target = 3 + count;
    const int floor = error_target + 1;
    int stdio_sources[3] = {request->stdin_fd, request->stdout_fd, request->stderr_fd};
    int moved_stdio[3];
    for (int i = 0; i < 3; i++) {
        moved_stdio[i] = fcntl(stdio_sources[i], F_DUPFD_CLOEXEC, floor);
        if (moved_stdio[i] < 0) {
            report_and_exit(error_fd, errno);
        }
    }
    // pass_fd_count is small (one per --listen address); a fixed array keeps malloc out of the child.
    int moved_pass[64];
    if (count > 64) {
        report_and_exit(error_fd, EMFILE);
    }
    for (int i = 0; i < count; i++) {
        moved_pass[i] = fcntl(request->pass_fds[i], F_DUPFD_CLOEXEC, floor);
        if (moved_pass[i] < 0) {
            report_and_exit(error_fd, errno);
        }
    }
    int moved_error = fcntl(error_fd, F_DUPFD_CLOEXEC, floor);
    if (moved_error < 0) {
        report_and_exit(error_fd, errno);
    }
    error_fd = moved_error;

    // dup2 leaves the new descriptor without FD_CLOEXEC, which is what the child must inherit.
    for (int i = 0; i < 3; i++) {
        if (dup2(moved_stdio[i], i) < 0) {
            report_and_exit(error_fd, errno);
        }
    }
    for (int i = 0; i < count; i++) {
        if (dup2(moved_pass[i], 3 + i) < 0) {
            report_and_exit(error_fd, errno);
        }
    }
    if (dup3(error_fd, error_target, O_CLOEXEC) < 0) {
        report_and_exit(error_fd, errno);
    }
    error_fd = error_target;
    supervisor_close_from(floor, 1);

    for (int i = 0; i < request->pid_slot_count; i++) {
        write_decimal(request->pid_slots[i], getpid());
    }

    execve(request->path, request->argv, request->envp);
    report_and_exit(error_fd, errno);
}

struct child_arguments {
    const supervisor_spawn_request *request;
    int error_fd;
    int unused_fd;
};

/// The child's start: closes the read end of the error pipe (in its own copy of the descriptor table), then sets up
/// and execs; never returns.
static int child_main(void *argument) {
    const struct child_arguments *arguments = argument;
    close(arguments->unused_fd);
    child_after_fork(arguments->request, arguments->error_fd);
    _exit(127);  // not reached
}

int supervisor_spawn(const supervisor_spawn_request *request, pid_t *pid_out) {
    int error_pipe[2];
    if (pipe2(error_pipe, O_CLOEXEC) < 0) {
        return errno;
    }

    // A signal delivered to the child between the clone and the reset of its handlers would run the parent's
    // handler there (the supervisor's writes to its signal pipe, which the child shares).
    //
    // fork() would copy the supervisor's page tables and then take a copy-on-write fault for each page either side
    // touches until the exec (about 290 a reload of two instances). CLONE_VM shares them instead, and CLONE_VFORK
    // suspends this thread until the child has exec'd or exited, so the child's stack is free again when clone
    // returns. A stack per call (with a guard page below it): threads may spawn at the same time.
    const size_t guard = 4096;
    const size_t stack_size = 128 * 1024;
    char *stack =
        mmap(NULL, guard + stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
        int error = errno;
        close(error_pipe[0]);
        close(error_pipe[1]);
        return error;
    }
    mprotect(stack, guard, PROT_NONE);
    struct child_arguments arguments = {.request = request, .error_fd = error_pipe[1], .unused_fd = error_pipe[0]};
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    pid_t pid = clone(child_main, stack + guard + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, &arguments);
    int clone_error = errno;
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    munmap(stack, guard + stack_size);
    if (pid < 0) {
        close(error_pipe[0]);
        close(error_pipe[1]);
        return clone_error;
    }

    close(error_pipe[1]);
    // The write end closes at a successful exec (CLOEXEC): end of file here means the program is running.
    int child_error = 0;
    ssize_t got;
    do {
        got = read(error_pipe[0], &child_error, sizeof(child_error));
    } while (got < 0 && errno == EINTR);
    close(error_pipe[0]);

    if (got == (ssize_t)sizeof(child_error)) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        return child_error != 0 ? child_error : EIO;
    }
    *pid_out = pid;
    return 0;
}

int supervisor_thread_is_idle(pid_t tid) {
    int policy = sched_getscheduler(tid);
    if (policy < 0) return -1;
    return (policy & ~SCHED_RESET_ON_FORK) == SCHED_IDLE;
}

int supervisor_thread_end_idle(pid_t tid) {
    struct sched_param parameters = {0};
    return sched_setscheduler(tid, SCHED_OTHER, &parameters);
}
