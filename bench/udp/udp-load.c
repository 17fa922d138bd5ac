// udp-load: sends numbered datagrams at a fixed rate to 127.0.0.1:PORT and counts the answers of a UDP echo server
// that prefixes each answer with "pid=PID " (demo-server --udp-echo). See bench/README.md; bench/udp/run runs it in
// private network namespaces while the supervisor is reloaded.
//
// What it does: opens SOCKETS UDP sockets, each connect()ed to 127.0.0.1:PORT (so each has its own source port and
// the server's SO_REUSEPORT hashing spreads them over its sockets) with SO_RCVBUFFORCE 8 MiB (SO_RCVBUF when that is
// refused). A sender thread sends the datagrams "n=0", "n=1", ... round robin over the sockets, paced at RATE a second
// from the start (a late wake-up is caught up at once, so the average rate holds); a receiver thread reads every
// answer, "pid=PID n=NUMBER", marks NUMBER as answered and remembers PID. On SIGUSR1 (or SIGINT, SIGTERM, or after
// MAX_SECONDS) it stops sending, waits until every number sent was answered or LATE_MS have passed, and prints one
// line of key=value pairs:
//   sent          datagrams the kernel accepted (send() returned the length)
//   answered      answers received, duplicates included
//   distinct      distinct numbers answered
//   lost          sent - distinct
//   duplicates    answered - distinct (an answer for a number already answered)
//   pids          distinct pids that answered
//   unexpected    answers that did not parse or carried a number never sent
//   send_errors   send() calls that failed (e.g. ECONNREFUSED from an ICMP error, ENOBUFS); their numbers are reused
//   recv_errors   recv() calls that failed with anything but EAGAIN
//   rcvbuf        the receive buffer the kernel granted each socket (bytes, SO_RCVBUF as read back)
//   seconds       time from the first send to the stop
//   late_ms       time from the stop until the last answer counted arrived (0: none arrived after the stop)
//
// Build: cc -O2 -pthread -Wall -Wextra -o udp-load udp-load.c
// Usage: udp-load PORT RATE [SOCKETS (8)] [LATE_MS (2000)] [MAX_SECONDS (600)]
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SOCKETS 64
#define RCVBUF_BYTES (8 * 1024 * 1024)
#define PID_SLOTS 65536 // open addressing; a run sees a few hundred pids

static int sockets[MAX_SOCKETS];
static int socket_count = 8;
static long rate = 20000;
static long late_ms = 2000;
static long max_seconds = 600;

static atomic_int stop_requested = 0;
static atomic_long sent = 0;
static atomic_int receiver_stop = 0;

// Receiver's own state (only the receiver thread writes it; main reads it after joining).
static uint8_t *answered_bits = NULL;
static size_t answered_bits_bytes = 0;
static long answered = 0, distinct = 0, duplicates = 0, unexpected = 0, recv_errors = 0;
static atomic_long distinct_shared = 0; // distinct, published for main's "all answered?" check
static int pid_table[PID_SLOTS];
static long pid_count = 0;
static atomic_long last_answer_ns = 0;
static long send_errors = 0;

static void die(const char *what) {
    perror(what);
    exit(1);
}

static long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static void remember_pid(int pid) {
    unsigned slot = ((unsigned)pid * 2654435761u) % PID_SLOTS;
    for (long probes = 0; probes < PID_SLOTS; probes++) {
        if (pid_table[slot] == pid) return;
        if (pid_table[slot] == 0) {
            pid_table[slot] = pid;
            pid_count++;
            return;
        }
        slot = (slot + 1) % PID_SLOTS;
    }
}

// Parses "pid=PID n=NUMBER"; returns 0 on success.
static int parse_answer(const char *buffer, ssize_t length, int *pid, long *number) {
    char text[128];
    if (length <= 0 || length >= (ssize_t)sizeof text) return -1;
    memcpy(text, buffer, (size_t)length);
    text[length] = 0;
    if (strncmp(text, "pid=", 4) != 0) return -1;
    char *end;
    long p = strtol(text + 4, &end, 10);
    if (end == text + 4 || p <= 0 || strncmp(end, " n=", 3) != 0) return -1;
    char *digits = end + 3;
    long n = strtol(digits, &end, 10);
    if (end == digits || *end != 0 || n < 0) return -1;
    *pid = (int)p;
    *number = n;
    return 0;
}

static void mark(long number) {
    size_t byte = (size_t)number / 8;
    if (byte >= answered_bits_bytes) {
        size_t size = answered_bits_bytes ? answered_bits_bytes : 1 << 16;
        while (size <= byte) size *= 2;
        uint8_t *grown = realloc(answered_bits, size);
        if (!grown) die("realloc");
        memset(grown + answered_bits_bytes, 0, size - answered_bits_bytes);
        answered_bits = grown;
        answered_bits_bytes = size;
    }
    uint8_t bit = (uint8_t)(1u << (number % 8));
    if (answered_bits[byte] & bit) {
        duplicates++;
    } else {
        answered_bits[byte] |= bit;
        distinct++;
        atomic_store(&distinct_shared, distinct);
    }
}

static void *receiver(void *unused) {
    (void)unused;
    struct pollfd fds[MAX_SOCKETS];
    for (int i = 0; i < socket_count; i++) fds[i] = (struct pollfd){.fd = sockets[i], .events = POLLIN};
    char buffer[256];
    while (!atomic_load(&receiver_stop)) {
        int ready = poll(fds, (nfds_t)socket_count, 20);
        if (ready < 0) {
            if (errno == EINTR) continue;
            die("poll");
        }
        for (int i = 0; i < socket_count; i++) {
            if (!(fds[i].revents & (POLLIN | POLLERR))) continue;
            for (;;) {
                ssize_t length = recv(sockets[i], buffer, sizeof buffer, MSG_DONTWAIT);
                if (length < 0) {
                    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                    if (errno == EINTR) continue;
                    recv_errors++; // e.g. ECONNREFUSED reported by an ICMP error; the socket stays usable
                    continue;
                }
                int pid;
                long number;
                // A number the sender has not reached yet cannot be an answer (allow the race of the sender's
                // count being stored after the send).
                if (parse_answer(buffer, length, &pid, &number) != 0 || number > atomic_load(&sent) + 1) {
                    unexpected++;
                    continue;
                }
                answered++;
                remember_pid(pid);
                mark(number);
                atomic_store(&last_answer_ns, now_ns());
            }
        }
    }
    return NULL;
}

static long start_ns, stop_ns;

static void *sender(void *unused) {
    (void)unused;
    char payload[32];
    long attempts = 0;
    start_ns = now_ns();
    while (!stop_requested) {
        long now = now_ns();
        long due = (long)((double)(now - start_ns) * (double)rate / 1e9) + 1;
        while (attempts < due && !stop_requested) {
            long number = atomic_load(&sent);
            int length = snprintf(payload, sizeof payload, "n=%ld", number);
            if (send(sockets[attempts % socket_count], payload, (size_t)length, 0) == length) {
                atomic_store(&sent, number + 1);
            } else {
                send_errors++;
            }
            attempts++;
        }
        // Sleep until the next datagram is due.
        long next = start_ns + (long)((double)attempts * 1e9 / (double)rate);
        struct timespec ts = {.tv_sec = next / 1000000000L, .tv_nsec = next % 1000000000L};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    }
    stop_ns = now_ns();
    return NULL;
}

static long positive(const char *text, const char *name) {
    char *end;
    long value = strtol(text, &end, 10);
    if (end == text || *end != 0 || value <= 0) {
        fprintf(stderr, "udp-load: %s must be a positive integer, not '%s'\n", name, text);
        exit(64);
    }
    return value;
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 6) {
        fprintf(stderr, "usage: udp-load PORT RATE [SOCKETS (8)] [LATE_MS (2000)] [MAX_SECONDS (600)]\n");
        return 64;
    }
    long port = positive(argv[1], "PORT");
    rate = positive(argv[2], "RATE");
    if (argc > 3) socket_count = (int)positive(argv[3], "SOCKETS");
    if (argc > 4) late_ms = positive(argv[4], "LATE_MS");
    if (argc > 5) max_seconds = positive(argv[5], "MAX_SECONDS");
    if (port > 65535 || socket_count > MAX_SOCKETS) {
        fprintf(stderr, "udp-load: PORT at most 65535, SOCKETS at most %d\n", MAX_SOCKETS);
        return 64;
    }
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0); // 1 us: wake up close to each datagram's due time

    struct sockaddr_in server = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &server.sin_addr);
    int granted = 0;
    for (int i = 0; i < socket_count; i++) {
        int fd = socket(AF_INET, SOCK_DGRAM, 0);
        if (fd < 0) die("socket");
        int size = RCVBUF_BYTES;
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0 &&
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size) != 0)
            die("setsockopt SO_RCVBUF");
        socklen_t length = sizeof granted;
        getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &granted, &length);
        if (connect(fd, (struct sockaddr *)&server, sizeof server) != 0) die("connect");
        sockets[i] = fd;
    }

    // Every thread blocks the stop signals (they inherit main's mask); main waits for one with sigtimedwait.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGUSR1);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

    pthread_t receive_thread, send_thread;
    if (pthread_create(&receive_thread, NULL, receiver, NULL) != 0) die("pthread_create");
    if (pthread_create(&send_thread, NULL, sender, NULL) != 0) die("pthread_create");
    struct timespec limit = {.tv_sec = max_seconds};
    while (sigtimedwait(&stop_signals, NULL, &limit) < 0 && errno == EINTR) {
    }
    stop_requested = 1;
    pthread_join(send_thread, NULL);

    // Late answers: wait until every number sent is answered, or LATE_MS.
    long sent_total = atomic_load(&sent);
    long wait_until = now_ns() + late_ms * 1000000L;
    while (atomic_load(&distinct_shared) < sent_total && now_ns() < wait_until) usleep(10000);
    atomic_store(&receiver_stop, 1);
    pthread_join(receive_thread, NULL);

    long last = atomic_load(&last_answer_ns);
    long late = last > stop_ns ? (last - stop_ns) / 1000000L : 0;
    printf("sent=%ld answered=%ld distinct=%ld lost=%ld duplicates=%ld pids=%ld unexpected=%ld send_errors=%ld "
           "recv_errors=%ld rcvbuf=%d seconds=%.2f late_ms=%ld\n",
           sent_total, answered, distinct, sent_total - distinct, duplicates, pid_count, unexpected, send_errors,
           recv_errors, granted, (double)(stop_ns - start_ns) / 1e9, late);
    return 0;
}
