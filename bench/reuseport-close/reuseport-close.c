// reuseport-close: how many queued connections are lost when two listeners of one SO_REUSEPORT group close at the
// same instant, compared with closing them one after the other. See bench/README.md; bench/reuseport-close/run runs
// it in private network namespaces.
//
// What it does: a group of listeners on 127.0.0.1:PORT (SO_REUSEPORT), each with a thread that accepts, reads one
// request line and answers "OK". CLIENTS threads connect, send a line and read the answer, in a closed loop, for the
// whole run, and classify every attempt: completed (an answer came), refused (ECONNREFUSED at connect), reset
// (ECONNRESET or EPIPE at connect, send or read), closed without reply (read returned 0), timeout (5 s) or other.
//
// One round: open two new listeners (the group goes from 4 to 6), wait OPEN_MS, stop accepting on the two oldest
// (A and B), wait QUEUE_MS so connections pile up in their accept queues, then close both:
//   simultaneous  two threads, released by a barrier and a spin, call close(A) and close(B) at the same instant;
//   sequential    close(A), wait GAP_MS, close(B).
// The group is back to 4 listeners. With net.ipv4.tcp_migrate_req=1 the kernel moves the connections queued on a
// closing listener to another listener of the group; a move that fails counts as TCPMigrateReqFailure in
// /proc/net/netstat and the client sees a reset. With tcp_migrate_req=0 every queued connection is reset.
//
// Output: one line of key=value pairs (see the printf at the end of main). The TcpExt counters are those of the
// current network namespace, read before and after the run: run it in a namespace of its own so nothing else moves
// them.
//
// Build: cc -O2 -pthread -Wall -Wextra -o reuseport-close reuseport-close.c
// Usage: reuseport-close simultaneous|sequential ROUNDS [-c CLIENTS] [-p PORT] [-q QUEUE_MS] [-o OPEN_MS] [-g GAP_MS]
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BASE_LISTENERS 4
#define MAX_LISTENERS (BASE_LISTENERS + 2)
#define MAX_CLIENTS 256

static int port = 40000;

static void die(const char *what) {
    perror(what);
    exit(1);
}

static long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static void sleep_ms(double ms) {
    long ns = (long)(ms * 1e6);
    struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static struct sockaddr_in loopback(void) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

// ---- server side ----

static atomic_long accepted;

struct listener {
    int fd;
    int stop_fd;  // eventfd: written to make the accept thread return
    pthread_t thread;
};

static void *accept_loop(void *arg) {
    struct listener *l = arg;
    struct pollfd p[2] = {{l->fd, POLLIN, 0}, {l->stop_fd, POLLIN, 0}};
    for (;;) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            die("poll");
        }
        if (p[1].revents) return NULL;
        if (!(p[0].revents & POLLIN)) continue;
        int c = accept4(l->fd, NULL, NULL, 0);
        if (c < 0) continue;
        atomic_fetch_add(&accepted, 1);
        struct pollfd cp = {c, POLLIN, 0};
        char buf[64];
        if (poll(&cp, 1, 2000) > 0 && read(c, buf, sizeof buf) > 0) send(c, "OK\n", 3, MSG_NOSIGNAL);
        close(c);
    }
}

static struct listener *open_listener(void) {
    struct listener *l = calloc(1, sizeof *l);
    if (!l) die("calloc");
    l->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (l->fd < 0) die("socket");
    int one = 1;
    if (setsockopt(l->fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) die("SO_REUSEPORT");
    if (setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) die("SO_REUSEADDR");
    struct sockaddr_in a = loopback();
    if (bind(l->fd, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
    if (listen(l->fd, 4096) < 0) die("listen");
    l->stop_fd = eventfd(0, 0);
    if (l->stop_fd < 0) die("eventfd");
    if (pthread_create(&l->thread, NULL, accept_loop, l)) die("pthread_create");
    return l;
}

// The listener stays open (and in the group) but nobody accepts on it any more.
static void stop_accepting(struct listener *l) {
    uint64_t one = 1;
    if (write(l->stop_fd, &one, sizeof one) != sizeof one) die("write eventfd");
    pthread_join(l->thread, NULL);
    close(l->stop_fd);
}

// The length of a listener's accept queue (tcpi_unacked is sk_ack_backlog for a listening socket).
static long queue_length(int fd) {
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0) return 0;
    return ti.tcpi_unacked;
}

// ---- client side ----

static atomic_int clients_stop;
static atomic_long completed, refused, reset_connect, reset_send, reset_read, no_reply, timed_out, other;

static void count_error(atomic_long *reset_counter) {
    if (errno == ECONNRESET || errno == EPIPE) atomic_fetch_add(reset_counter, 1);
    else if (errno == ETIMEDOUT || errno == EAGAIN || errno == EWOULDBLOCK) atomic_fetch_add(&timed_out, 1);
    else atomic_fetch_add(&other, 1);
}

static void *client_loop(void *arg) {
    (void)arg;
    struct sockaddr_in a = loopback();
    struct timeval timeout = {5, 0};
    while (!atomic_load(&clients_stop)) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s < 0) die("socket");
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        char buf[64];
        ssize_t n;
        if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
            if (errno == ECONNREFUSED) atomic_fetch_add(&refused, 1);
            else count_error(&reset_connect);
        } else if (send(s, "hello\n", 6, MSG_NOSIGNAL) < 0) {
            count_error(&reset_send);
        } else if ((n = read(s, buf, sizeof buf)) > 0) {
            atomic_fetch_add(&completed, 1);
        } else if (n == 0) {
            atomic_fetch_add(&no_reply, 1);
        } else {
            count_error(&reset_read);
        }
        close(s);
    }
    return NULL;
}

// ---- simultaneous closes ----

static pthread_barrier_t round_start, round_done;
static atomic_int closers_exit, closers_arrived;
static int close_fd[2];
static long close_begin[2], close_end[2];

// Closer i closes close_fd[i] once per round. After the barrier both spin until the other has arrived too, so the
// two close() calls start as close together as the scheduler allows.
static void *closer_loop(void *arg) {
    int i = (int)(intptr_t)arg;
    for (int round = 1;; round++) {
        pthread_barrier_wait(&round_start);
        if (atomic_load(&closers_exit)) return NULL;
        atomic_fetch_add(&closers_arrived, 1);
        while (atomic_load(&closers_arrived) < 2 * round) {
        }
        close_begin[i] = now_ns();
        close(close_fd[i]);
        close_end[i] = now_ns();
        pthread_barrier_wait(&round_done);
    }
}

// ---- counters of /proc/net/netstat ----

// The value of TcpExt counter NAME in this network namespace, -1 when absent.
static long tcpext(const char *name) {
    FILE *f = fopen("/proc/net/netstat", "r");
    if (!f) die("/proc/net/netstat");
    char header[8192], values[8192];
    long result = -1;
    // The file is pairs of lines: "TcpExt: Name1 Name2 ..." then "TcpExt: 1 2 ...".
    while (fgets(header, sizeof header, f) && fgets(values, sizeof values, f)) {
        if (strncmp(header, "TcpExt:", 7) != 0) continue;
        char *hs, *vs;
        char *h = strtok_r(header, " \n", &hs), *v = strtok_r(values, " \n", &vs);
        while ((h = strtok_r(NULL, " \n", &hs)) && (v = strtok_r(NULL, " \n", &vs)))
            if (strcmp(h, name) == 0) result = atol(v);
    }
    fclose(f);
    return result;
}

static int migrate_req_setting(void) {
    FILE *f = fopen("/proc/sys/net/ipv4/tcp_migrate_req", "r");
    int value = -1;
    if (f) {
        if (fscanf(f, "%d", &value) != 1) value = -1;
        fclose(f);
    }
    return value;
}

static void usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s simultaneous|sequential ROUNDS [-c CLIENTS (32)] [-p PORT (40000)] [-q QUEUE_MS (4)]"
            " [-o OPEN_MS (4)] [-g GAP_MS (5)]\n",
            argv0);
    exit(2);
}

int main(int argc, char **argv) {
    if (argc < 3) usage(argv[0]);
    int simultaneous;
    if (strcmp(argv[1], "simultaneous") == 0) simultaneous = 1;
    else if (strcmp(argv[1], "sequential") == 0) simultaneous = 0;
    else usage(argv[0]);
    int rounds = atoi(argv[2]);
    if (rounds <= 0) usage(argv[0]);
    int clients = 32;
    double queue_ms = 4, open_ms = 4, gap_ms = 5;
    optind = 3;
    for (int opt; (opt = getopt(argc, argv, "c:p:q:o:g:")) != -1;) {
        switch (opt) {
        case 'c': clients = atoi(optarg); break;
        case 'p': port = atoi(optarg); break;
        case 'q': queue_ms = atof(optarg); break;
        case 'o': open_ms = atof(optarg); break;
        case 'g': gap_ms = atof(optarg); break;
        default: usage(argv[0]);
        }
    }
    if (clients < 1 || clients > MAX_CLIENTS || port < 1 || port > 65535) usage(argv[0]);
    signal(SIGPIPE, SIG_IGN);

    long migrate_success0 = tcpext("TCPMigrateReqSuccess");
    long migrate_failure0 = tcpext("TCPMigrateReqFailure");

    // The group, oldest first.
    struct listener *group[MAX_LISTENERS];
    int listeners = 0;
    while (listeners < BASE_LISTENERS) group[listeners++] = open_listener();

    pthread_t client_threads[MAX_CLIENTS];
    for (int i = 0; i < clients; i++)
        if (pthread_create(&client_threads[i], NULL, client_loop, NULL)) die("pthread_create");

    pthread_t closers[2];
    if (simultaneous) {
        pthread_barrier_init(&round_start, NULL, 3);
        pthread_barrier_init(&round_done, NULL, 3);
        for (intptr_t i = 0; i < 2; i++)
            if (pthread_create(&closers[i], NULL, closer_loop, (void *)i)) die("pthread_create");
    }

    sleep_ms(200);  // the clients get going
    long queued = 0, overlapping = 0;
    long started = now_ns();
    for (int r = 0; r < rounds; r++) {
        group[listeners++] = open_listener();
        group[listeners++] = open_listener();
        sleep_ms(open_ms);
        struct listener *a = group[0], *b = group[1];
        stop_accepting(a);
        stop_accepting(b);
        sleep_ms(queue_ms);
        queued += queue_length(a->fd) + queue_length(b->fd);
        if (simultaneous) {
            close_fd[0] = a->fd;
            close_fd[1] = b->fd;
            pthread_barrier_wait(&round_start);
            pthread_barrier_wait(&round_done);
            if (close_begin[0] < close_end[1] && close_begin[1] < close_end[0]) overlapping++;
        } else {
            close(a->fd);
            sleep_ms(gap_ms);
            close(b->fd);
        }
        free(a);
        free(b);
        memmove(group, group + 2, (size_t)(listeners - 2) * sizeof group[0]);
        listeners -= 2;
    }
    double seconds = (double)(now_ns() - started) / 1e9;

    sleep_ms(300);  // connections in flight finish
    atomic_store(&clients_stop, 1);
    for (int i = 0; i < clients; i++) pthread_join(client_threads[i], NULL);
    if (simultaneous) {
        atomic_store(&closers_exit, 1);
        pthread_barrier_wait(&round_start);
        for (int i = 0; i < 2; i++) pthread_join(closers[i], NULL);
    }

    printf("mode=%s migrate_req=%d rounds=%d clients=%d open_ms=%g queue_ms=%g gap_ms=%g seconds=%.1f"
           " completed=%ld refused=%ld reset=%ld reset_connect=%ld reset_send=%ld reset_read=%ld"
           " closed_without_reply=%ld timeout=%ld other=%ld accepted=%ld queued=%ld overlapping=%ld"
           " migrate_success=%ld migrate_failure=%ld\n",
           simultaneous ? "simultaneous" : "sequential", migrate_req_setting(), rounds, clients, open_ms, queue_ms,
           simultaneous ? 0.0 : gap_ms, seconds, atomic_load(&completed), atomic_load(&refused),
           atomic_load(&reset_connect) + atomic_load(&reset_send) + atomic_load(&reset_read),
           atomic_load(&reset_connect), atomic_load(&reset_send), atomic_load(&reset_read), atomic_load(&no_reply),
           atomic_load(&timed_out), atomic_load(&other), atomic_load(&accepted), queued,
           simultaneous ? overlapping : -1L, tcpext("TCPMigrateReqSuccess") - migrate_success0,
           tcpext("TCPMigrateReqFailure") - migrate_failure0);
    return 0;
}
