#ifndef C_SUPERVISOR_SHIMS_H
#define C_SUPERVISOR_SHIMS_H

#include <stddef.h>
#include <sys/types.h>

/// What a new instance process is given. Every pointer must stay valid for the duration of the call.
typedef struct {
    /// Absolute or relative path of the program, already resolved against PATH.
    const char *path;
    /// NULL-terminated argument vector; argv[0] is the name the program sees.
    char *const *argv;
    /// NULL-terminated environment.
    char *const *envp;
    /// Descriptors that the child receives as 3, 4, ... in this order (CLOEXEC cleared). May be NULL when count is 0.
    const int *pass_fds;
    int pass_fd_count;
    /// Descriptors that become the child's 0, 1 and 2.
    int stdin_fd;
    int stdout_fd;
    int stderr_fd;
    /// Buffers inside envp strings (just after "LISTEN_PID=", "WATCHDOG_PID=") into which the child writes its own pid,
    /// NUL-terminated, between fork and exec: those variables must name the child itself. Each must hold at least 12
    /// bytes. May be NULL when count is 0.
    char *const *pid_slots;
    int pid_slot_count;
    /// 1: switch to `uid`, `gid` and the supplementary `groups` before exec (the parent must be root).
    int switch_credentials;
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    int group_count;
    /// Above 0: the child's nice value, set before exec, so every thread it starts inherits it; 0 leaves the parent's.
    int nice;
    /// 1: the child runs under the SCHED_IDLE policy from before exec (every thread it starts inherits it), so it
    /// takes the CPU only when nothing else wants it; 0 leaves the parent's policy.
    int idle;
} supervisor_spawn_request;

/// Starts a process (a clone that shares the parent's memory until its exec, as posix_spawn does) that executes
/// `request->path` in a new session (so a new process group whose id is the child's pid), with an empty signal mask,
/// default signal dispositions, the given stdio and passed descriptors, and every other descriptor closed. Only
/// async-signal-safe calls run between the clone and exec.
///
/// Returns 0 and stores the child's pid in `*pid_out` when exec succeeded; returns an errno value when the clone
/// failed or when the child could not exec (then the child has already exited with status 127 and has been reaped).
int supervisor_spawn(const supervisor_spawn_request *request, pid_t *pid_out);

/// Closes every descriptor numbered `floor` or above: with close_range(2) when `allow_close_range` is 1 and the
/// kernel allows it, else (before Linux 5.9, or under a seccomp filter that refuses it) each one /proc/self/fd lists,
/// else each number up to the descriptor limit. Async-signal-safe: it runs between fork and exec. Returns 0
/// (close_range), 1 (/proc/self/fd) or 2 (every number).
int supervisor_close_from(int floor, int allow_close_range);

/// memfd_create(name, MFD_CLOEXEC): an anonymous file in memory. Returns the descriptor, or -1 with errno set.
int supervisor_memfd(const char *name);

/// pidfd_open(pid, 0): a descriptor that refers to process `pid` for as long as it is held, and never to a process
/// that reuses the number later. Returns it (close-on-exec), or -1 with errno set (ESRCH: no such process; ENOSYS:
/// before Linux 5.3).
int supervisor_pidfd_open(pid_t pid);

/// pidfd_send_signal(pidfd, signal, NULL, 0). Returns 0, or -1 with errno set (ESRCH: the process has exited).
int supervisor_pidfd_send_signal(int pidfd, int signal);

/// What `supervisor_recv_datagram` learned about a datagram besides its bytes.
typedef struct {
    /// 1 when the kernel attached SCM_CREDENTIALS (the socket has SO_PASSCRED).
    int has_credentials;
    pid_t pid;
    uid_t uid;
    gid_t gid;
    /// 1 when the datagram or its control data did not fit (MSG_TRUNC or MSG_CTRUNC).
    int truncated;
    /// How many descriptors came with it (SCM_RIGHTS). They are already closed.
    int received_fd_count;
} supervisor_datagram_info;

/// Receives one datagram without blocking, with the sender's credentials. Closes every descriptor that came with it
/// (an sd_notify BARRIER=1 waits for exactly that). Returns the datagram length, or -errno (-EAGAIN when none is
/// waiting).
ssize_t supervisor_recv_datagram(int fd, void *buffer, size_t capacity, supervisor_datagram_info *info);

/// Installs a handler for each of `signals` that writes the signal number as one byte to a non-blocking pipe, and
/// stores the pipe's ends in `*read_fd_out` and `*write_fd_out` (non-blocking, close-on-exec). The self-pipe makes
/// delivery safe whichever thread the kernel picks. Returns 0 or an errno value (EBUSY when installed already).
int supervisor_signal_pipe_install(const int *signals, int count, int *read_fd_out, int *write_fd_out);

/// `supervisor_signal_pipe_install` with the pipe of the program this process was before an in-place upgrade (its
/// ends survived the exec; the caller reads the other): bytes written before the exec are read now.
int supervisor_signal_pipe_adopt(int write_fd, const int *signals, int count);

/// Replaces this process's program, keeping its pid, with every descriptor closed at the exec except `keep` (whose
/// close-on-exec flag it clears): `execveat(executable_fd, "", ..., AT_EMPTY_PATH)` when `executable_fd` is 0 or
/// more, else `execve(path, ...)`. SIGHUP, SIGTERM, SIGINT and SIGCHLD are blocked in the calling thread first, so one
/// that comes during the exec waits for the new program (see `supervisor_unblock_stop_signals`). Returns only when
/// the exec failed: the errno value, with the flags and the signal mask as they were.
int supervisor_exec_keeping(int executable_fd, const char *path, char *const argv[], char *const envp[],
                            const int *keep, int keep_count);

/// Unblocks in the calling thread the signals `supervisor_exec_keeping` blocked, once their handlers are installed.
/// Returns 0 or an errno value.
int supervisor_unblock_stop_signals(void);

/// pipe2(fds, O_CLOEXEC): a pipe whose ends never leak into a child spawned by another thread. Returns 0 or -1 with
/// errno set.
int supervisor_pipe_cloexec(int fds[2]);

/// Whether thread `tid` runs under SCHED_IDLE: 1 yes, 0 no, -1 when it could not be read (errno says why).
int supervisor_thread_is_idle(pid_t tid);

/// Moves thread `tid` from SCHED_IDLE to SCHED_OTHER (the usual policy); 0, or -1 with errno. Allowed to the owner of
/// the thread when the thread's RLIMIT_NICE admits nice 0 (20), else it needs CAP_SYS_NICE.
int supervisor_thread_end_idle(pid_t tid);

/// Makes this process a child subreaper (PR_SET_CHILD_SUBREAPER), so that descendants orphaned by an instance are
/// reparented here and can be reaped. Returns 0 or an errno value.
int supervisor_set_child_subreaper(void);

/// One TCP socket as NETLINK_SOCK_DIAG reports it.
typedef struct {
    /// The socket's inode, as in `/proc/PID/fd` links (`socket:[INODE]`); 0 for a socket no descriptor holds.
    unsigned long long inode;
    /// The local port, in host order.
    unsigned short local_port;
    /// The TCP state (1 established, 4 fin-wait-1, 8 close-wait, 10 listen, ... as in the kernel's tcp_states.h).
    unsigned char state;
} supervisor_tcp_socket;

/// Dumps the TCP sockets of `family` (AF_INET or AF_INET6) whose state is in `state_mask` (bit 1 << state) and whose
/// local port is one of `ports` (1 to 64 of them; the kernel filters), through one NETLINK_SOCK_DIAG request. Stores
/// up to `capacity` of them in `out` and how many matched in `*count_out` (more than `capacity` when they did not
/// fit). Returns 0 or an errno value (EINVAL for a port count out of range).
int supervisor_tcp_sockets(int family, unsigned int state_mask, const unsigned short *ports, int port_count,
                           supervisor_tcp_socket *out, size_t capacity, size_t *count_out);

/// The size of the release stamp: a release string, NUL-padded.
#define SUPERVISOR_RELEASE_STAMP_SIZE 64

/// The release stamped into this binary after it was built, as SUPERVISOR_RELEASE_STAMP_SIZE bytes: a NUL-terminated
/// string, empty when nothing was stamped. It lives in a section of its own, `.supervisor_release`, which
/// `packaging/build-deb --version` overwrites with `objcopy --update-section`, so a package of another version needs
/// no rebuild.
const char *supervisor_release_stamp(void);

#endif
