// unix-load: HTTP/1.1 load on a Unix stream socket, for bench/handover's unix rows (wrk cannot connect to one).
// It prints its report in wrk's format (the lines bench/handover's parse_wrk reads), so a unix row is measured and
// read like the TCP rows. See bench/README.md. With a target tcp:PORT (or tcp:ADDRESS:PORT, IPv4, TCP_NODELAY) it
// loads a TCP port the same way, and with --trace FILE it writes down every request (bench/reload-trace reads it).
//
// What it does: CONNECTIONS threads, each with one connection to PATH at a time, each sending
//   GET / HTTP/1.1\r\nHost: localhost\r\n\r\n         (keep-alive, the default; -k says so explicitly)
// plus "Connection: close" with --close, one request at a time, and reading the whole response: status line, headers,
// and the body by Content-Length (without one, up to the end of the stream; chunked bodies are not supported and are
// counted as read errors). With --close every request has a connection of its own. A keep-alive connection whose
// response says "Connection: close" (a draining server does) is closed after that response and the next request goes
// on a new one: that is not a failure. Counted, like wrk:
//   requests   responses read completely (any status)
//   non-2xx    of those, responses with a status outside 200-399
//   connect    socket() or connect() failed (or connect() did not complete within 2 s)
//   read       the stream ended or failed before a full response to a request sent, or the response did not parse
//   write      send() failed
//   timeout    no full response within 2 s of the request (or the request could not be sent within 2 s)
// A request cut by an error is sent again on a new connection after the error is counted. After a connect error a
// thread waits 1 ms before the next attempt (so a missing socket does not spin 32 threads on 2 cores). Latency: from
// the request's send() to its response's last byte (CLOCK_MONOTONIC; the connect is not included, as in wrk), kept in
// a per-thread histogram: 1 us buckets up to 10 ms, 100 us up to 1 s, 10 ms up to 10 s.
//
// Rate-limited load (bench/handover's --load below 100): with --delay-ms D (fractional milliseconds) each thread
// sleeps D ms (nanosleep) before each request, before the connect when it needs a new connection (with --close:
// every request), so each connection's cycle is D plus the request's own time and the rate falls accordingly. The
// sleep is not part of the latency. (wrk with bench/handover-delay.lua waits after its connect instead; a keep-alive
// connection waits open in both.) D is the same for every request; bench/handover calibrates it to a target rate.
//
// It stops after SECONDS or at SIGINT (or SIGTERM), whichever comes first: the main thread waits for the signal with
// sigtimedwait (the workers block both), then sets a stop flag; workers read with a 100 ms SO_RCVTIMEO slice, so they
// see it within 100 ms (a thread blocked in connect() or send() within 2 s). Requests still in flight then are not
// counted, neither as completed nor as failed. Then it prints:
//   Running 5s test @ unix:PATH
//     32 connections
//     Latency Distribution
//        50%  412.00us
//        75%  600.00us
//        90%    1.20ms
//        99%    3.10ms
//     123456 requests in 5.00s, 12.34MB read
//     Socket errors: connect 0, read 0, write 0, timeout 0
//     Non-2xx or 3xx responses: 0
//   Requests/sec:  24691.20
//   Transfer/sec:      2.47MB
//
// Trace (--trace FILE): at the end, one line per request completed, in the order of the threads:
//   START_NS LATENCY_US FIRST
// START_NS is when the request was sent, in CLOCK_REALTIME nanoseconds (the monotonic time of the send plus the
// offset of the two clocks read once at start, so steps of the wall clock do not bend it), LATENCY_US its latency as
// in the histogram, and FIRST 1 when it was the first request on its connection (0 on a reused one). Failed requests
// are not in it. Each thread keeps its records in memory (16 bytes each) until the end.
//
// Build: cc -O2 -pthread -Wall -Wextra -o unix-load unix-load.c
// Usage: unix-load -c CONNECTIONS -d SECONDS [-k|--close] [--delay-ms D] [--trace FILE] PATH|tcp:[ADDRESS:]PORT
//        (SECONDS may end in s, m or h, as wrk's -d)
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 // SIGPIPE is ignored as well
#endif

#define MAX_CONNECTIONS 1024
#define BUFFER_BYTES 16384
#define TIMEOUT_NS 2000000000LL // a full response within 2 s
#define SLICE_US 100000         // SO_RCVTIMEO: how often a blocked reader looks at the stop flag

// Latency histogram, in microseconds: [0, 10 ms) by 1 us, [10 ms, 1 s) by 100 us, [1 s, 10 s) by 10 ms; above: the
// last bucket.
#define FINE_LIMIT 10000
#define MID_LIMIT 1000000
#define COARSE_LIMIT 10000000
#define MID_STEP 100
#define COARSE_STEP 10000
#define MID_BASE FINE_LIMIT
#define COARSE_BASE (MID_BASE + (MID_LIMIT - FINE_LIMIT) / MID_STEP)
#define BUCKETS (COARSE_BASE + (COARSE_LIMIT - MID_LIMIT) / COARSE_STEP)

static size_t bucket_of(uint64_t us) {
    if (us < FINE_LIMIT) return (size_t)us;
    if (us < MID_LIMIT) return MID_BASE + (size_t)((us - FINE_LIMIT) / MID_STEP);
    if (us < COARSE_LIMIT) return COARSE_BASE + (size_t)((us - MID_LIMIT) / COARSE_STEP);
    return BUCKETS - 1;
}

// The value a bucket stands for: its own for a 1 us bucket, else its middle.
static double value_of(size_t bucket) {
    if (bucket < MID_BASE) return (double)bucket;
    if (bucket < COARSE_BASE) return FINE_LIMIT + (double)(bucket - MID_BASE) * MID_STEP + MID_STEP / 2.0;
    return MID_LIMIT + (double)(bucket - COARSE_BASE) * COARSE_STEP + COARSE_STEP / 2.0;
}

// One request of the trace (--trace).
struct record {
    int64_t start_ns; // CLOCK_REALTIME
    uint32_t latency_us;
    uint32_t first; // the first request on its connection
};

struct worker {
    pthread_t thread;
    uint64_t completed, non2xx, bytes;
    uint64_t connect_errors, read_errors, write_errors, timeouts;
    uint64_t *histogram; // BUCKETS counts
    char buffer[BUFFER_BYTES];
    size_t have; // bytes of buffer not consumed yet (read past the last response: none from a sane server)
    struct record *records; // --trace: the requests completed, records_used of records_capacity
    size_t records_used, records_capacity;
};

static const char *socket_path; // the target as given: PATH or tcp:[ADDRESS:]PORT
static struct sockaddr_un address;
static struct sockaddr_in tcp_address;
static int tcp_target = 0;
static const char *trace_path = NULL;
static int64_t realtime_offset_ns = 0; // CLOCK_REALTIME minus CLOCK_MONOTONIC, read once at start
static int close_style = 0;
static int64_t delay_ns = 0; // --delay-ms: the pause before each request
static char request[128];
static size_t request_length;

static pthread_mutex_t stop_lock = PTHREAD_MUTEX_INITIALIZER;
static int stop_flag = 0;
static pthread_mutex_t warn_lock = PTHREAD_MUTEX_INITIALIZER;
static int warned_chunked = 0;

static int stopped(void) {
    pthread_mutex_lock(&stop_lock);
    int value = stop_flag;
    pthread_mutex_unlock(&stop_lock);
    return value;
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

// Sleeps delay_ns, in slices of at most SLICE_US so that a stop is seen; 0 when stopped meanwhile.
static int pause_before_request(void) {
    int64_t left = delay_ns;
    while (left > 0) {
        if (stopped()) return 0;
        int64_t slice = left < SLICE_US * 1000LL ? left : SLICE_US * 1000LL;
        struct timespec ts = {(time_t)(slice / 1000000000LL), (long)(slice % 1000000000LL)};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
        left -= slice;
    }
    return !stopped();
}

// A connected socket, or -1 (the error counted unless stopping).
static int open_connection(struct worker *w) {
    int fd = socket(tcp_target ? AF_INET : AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) {
        if (!stopped()) w->connect_errors++;
        return -1;
    }
    struct timeval slice = {0, SLICE_US};
    struct timeval send_timeout = {TIMEOUT_NS / 1000000000LL, 0};
    int one = 1;
    // SO_SNDTIMEO bounds connect() too (on a Unix socket a full backlog makes it wait).
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &slice, sizeof slice) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout) != 0 ||
        (tcp_target && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)) {
        perror("unix-load: setsockopt");
        exit(1);
    }
    int r;
    do {
        r = tcp_target ? connect(fd, (const struct sockaddr *)&tcp_address, sizeof tcp_address)
                       : connect(fd, (const struct sockaddr *)&address, sizeof address);
    } while (r != 0 && errno == EINTR);
    if (r != 0) {
        close(fd);
        if (!stopped()) w->connect_errors++;
        return -1;
    }
    w->have = 0;
    return fd;
}

// Sends the request; 0, or the kind of failure: 'w' write error, 't' timeout.
static int send_request(int fd) {
    size_t sent = 0;
    while (sent < request_length) {
        ssize_t n = send(fd, request + sent, request_length - sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return (errno == EAGAIN || errno == EWOULDBLOCK) ? 't' : 'w';
        }
        sent += (size_t)n;
    }
    return 0;
}

// The header value's tokens (comma-separated) include TOKEN, case-insensitively.
static int has_token(const char *value, size_t length, const char *token) {
    size_t token_length = strlen(token);
    size_t i = 0;
    while (i < length) {
        while (i < length && (value[i] == ' ' || value[i] == '\t' || value[i] == ',')) i++;
        size_t start = i;
        while (i < length && value[i] != ',') i++;
        size_t end = i;
        while (end > start && (value[end - 1] == ' ' || value[end - 1] == '\t')) end--;
        if (end - start == token_length && strncasecmp(value + start, token, token_length) == 0) return 1;
    }
    return 0;
}

struct head {
    int status;
    long long content_length; // -1: none
    int server_closes;        // Connection: close, or HTTP/1.0 without keep-alive
    int chunked;
};

// Parses the status line and headers in text[0, length) (up to and without the blank line); 0, or -1 when it is not
// an HTTP response.
static int parse_head(const char *text, size_t length, struct head *head) {
    head->status = 0;
    head->content_length = -1;
    head->server_closes = 0;
    head->chunked = 0;
    if (length < 12 || strncmp(text, "HTTP/1.", 7) != 0 || text[8] != ' ') return -1;
    int http10 = text[7] == '0';
    int keep_alive_header = 0;
    for (int i = 9; i < 12; i++) {
        if (text[i] < '0' || text[i] > '9') return -1;
        head->status = head->status * 10 + (text[i] - '0');
    }
    const char *line = memchr(text, '\n', length);
    while (line != NULL) {
        line++;
        size_t rest = length - (size_t)(line - text);
        if (rest == 0) break;
        const char *end = memchr(line, '\n', rest);
        size_t line_length = end ? (size_t)(end - line) : rest;
        if (line_length > 0 && line[line_length - 1] == '\r') line_length--;
        const char *colon = memchr(line, ':', line_length);
        if (colon != NULL) {
            size_t name_length = (size_t)(colon - line);
            const char *value = colon + 1;
            size_t value_length = line_length - name_length - 1;
            while (value_length > 0 && (*value == ' ' || *value == '\t')) value++, value_length--;
            if (name_length == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
                long long n = 0;
                size_t digits = 0;
                while (digits < value_length && value[digits] >= '0' && value[digits] <= '9') {
                    n = n * 10 + (value[digits] - '0');
                    digits++;
                    if (n > (1LL << 40)) return -1;
                }
                if (digits == 0) return -1;
                head->content_length = n;
            } else if (name_length == 10 && strncasecmp(line, "Connection", 10) == 0) {
                if (has_token(value, value_length, "close")) head->server_closes = 1;
                if (has_token(value, value_length, "keep-alive")) keep_alive_header = 1;
            } else if (name_length == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0) {
                if (!has_token(value, value_length, "identity")) head->chunked = 1;
            }
        }
        line = end;
    }
    if (http10 && !keep_alive_header) head->server_closes = 1;
    return 0;
}

// Reads one response on fd; 0 with *head filled, or the kind of failure: 'r' read error, 't' timeout, 's' stopped.
static int read_response(struct worker *w, int fd, int64_t deadline, struct head *head) {
    size_t head_end = 0; // just past the blank line, once found
    size_t searched = 0;
    long long body_left = 0;
    int until_eof = 0;
    for (;;) {
        if (head_end == 0) {
            size_t from = searched > 3 ? searched - 3 : 0;
            for (size_t i = from; i + 3 < w->have; i++) {
                if (w->buffer[i] == '\r' && w->buffer[i + 1] == '\n' && w->buffer[i + 2] == '\r' &&
                    w->buffer[i + 3] == '\n') {
                    head_end = i + 4;
                    break;
                }
            }
            searched = w->have;
            if (head_end != 0) {
                if (parse_head(w->buffer, head_end - 2, head) != 0) return 'r';
                if (head->chunked) {
                    pthread_mutex_lock(&warn_lock);
                    if (!warned_chunked) {
                        fprintf(stderr, "unix-load: a chunked response: not supported; counted as a read error\n");
                        warned_chunked = 1;
                    }
                    pthread_mutex_unlock(&warn_lock);
                    return 'r';
                }
                if (head->content_length >= 0) {
                    body_left = head->content_length;
                } else if ((head->status >= 100 && head->status < 200) || head->status == 204 || head->status == 304) {
                    body_left = 0;
                } else {
                    until_eof = 1;
                    head->server_closes = 1;
                }
                // Consume the head and whatever of the body is in the buffer.
                size_t after = w->have - head_end;
                size_t body_here = until_eof ? after : (after < (size_t)body_left ? after : (size_t)body_left);
                body_left -= (long long)body_here;
                size_t keep = after - body_here;
                memmove(w->buffer, w->buffer + head_end + body_here, keep);
                w->have = keep;
            } else if (w->have == sizeof w->buffer) {
                return 'r'; // a head larger than the buffer: not what the demo server sends
            }
        }
        if (head_end != 0 && !until_eof && body_left == 0) return 0;
        ssize_t n;
        if (head_end == 0) {
            n = recv(fd, w->buffer + w->have, sizeof w->buffer - w->have, 0);
        } else {
            // The body is counted, not kept: read it into the buffer's free part; a sane server sends nothing
            // after it (one request at a time), so the buffer is empty here.
            size_t want = sizeof w->buffer - w->have;
            if (!until_eof && (long long)want > body_left) want = (size_t)body_left;
            n = recv(fd, w->buffer + w->have, want, 0);
        }
        if (n > 0) {
            w->bytes += (uint64_t)n;
            if (head_end == 0) {
                w->have += (size_t)n;
            } else if (!until_eof) {
                body_left -= n;
            }
            continue;
        }
        if (n == 0) {
            if (until_eof) return 0;
            return stopped() ? 's' : 'r';
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (stopped()) return 's';
            if (now_ns() >= deadline) return 't';
            continue;
        }
        return stopped() ? 's' : 'r';
    }
}

// Keeps a record of a completed request for --trace.
static void trace_request(struct worker *w, int64_t start, int64_t end, int first) {
    if (w->records_used == w->records_capacity) {
        size_t capacity = w->records_capacity ? w->records_capacity * 2 : 65536;
        struct record *grown = realloc(w->records, capacity * sizeof *grown);
        if (grown == NULL) {
            perror("unix-load: the trace does not fit in memory");
            exit(1);
        }
        w->records = grown;
        w->records_capacity = capacity;
    }
    w->records[w->records_used++] =
        (struct record){start + realtime_offset_ns, (uint32_t)((end - start) / 1000), (uint32_t)first};
}

static void *work(void *argument) {
    struct worker *w = argument;
    int fd = -1;
    int first = 0; // the next request is the first on its connection
    while (!stopped()) {
        if (delay_ns > 0 && !pause_before_request()) break;
        if (fd < 0) {
            fd = open_connection(w);
            if (fd < 0) {
                sleep_ms(1);
                continue;
            }
            first = 1;
        }
        int64_t start = now_ns();
        int failure = send_request(fd);
        struct head head;
        if (failure == 0) failure = read_response(w, fd, start + TIMEOUT_NS, &head);
        if (failure == 0) {
            int64_t end = now_ns();
            w->completed++;
            if (head.status < 200 || head.status > 399) w->non2xx++;
            w->histogram[bucket_of((uint64_t)((end - start) / 1000))]++;
            if (trace_path != NULL) trace_request(w, start, end, first);
            first = 0;
            if (close_style || head.server_closes) {
                close(fd);
                fd = -1;
            }
            continue;
        }
        close(fd);
        fd = -1;
        if (failure == 's' || stopped()) break;
        switch (failure) {
        case 'w': w->write_errors++; break;
        case 't': w->timeouts++; break;
        default: w->read_errors++; break;
        }
    }
    if (fd >= 0) close(fd);
    return NULL;
}

// wrk's number formats: "%.2f" and a unit.
static void format_time_us(char *out, size_t size, double us) {
    if (us < 1000) snprintf(out, size, "%.2fus", us);
    else if (us < 1000000) snprintf(out, size, "%.2fms", us / 1000);
    else if (us < 60000000) snprintf(out, size, "%.2fs", us / 1000000);
    else if (us < 3600000000.0) snprintf(out, size, "%.2fm", us / 60000000);
    else snprintf(out, size, "%.2fh", us / 3600000000.0);
}

static void format_binary(char *out, size_t size, double n) {
    static const char *units[] = {"", "K", "M", "G", "T", "P"};
    size_t unit = 0;
    while (n >= 1024 && unit + 1 < sizeof units / sizeof units[0]) {
        n /= 1024;
        unit++;
    }
    snprintf(out, size, "%.2f%s", n, units[unit]);
}

// wrk's duration in its header: whole seconds, minutes or hours.
static void format_time_s(char *out, size_t size, double s) {
    if (s < 60) snprintf(out, size, "%.0fs", s);
    else if (s < 3600) snprintf(out, size, "%.0fm", s / 60);
    else snprintf(out, size, "%.0fh", s / 3600);
}

// wrk's print_units: right-aligned in WIDTH, with up to two spaces of padding for a unit shorter than two letters.
static void print_units(const char *text, int width) {
    size_t length = strlen(text);
    int pad = 2;
    if (length > 0 && ((text[length - 1] >= 'a' && text[length - 1] <= 'z') ||
                       (text[length - 1] >= 'A' && text[length - 1] <= 'Z')))
        pad--;
    if (length > 1 && ((text[length - 2] >= 'a' && text[length - 2] <= 'z') ||
                       (text[length - 2] >= 'A' && text[length - 2] <= 'Z')))
        pad--;
    printf("%*s%.*s", width - pad, text, pad, "  ");
}

static void usage(FILE *to) {
    fprintf(to, "usage: unix-load -c CONNECTIONS -d SECONDS [-k|--close] [--delay-ms D] [--trace FILE] TARGET\n"
                "  -c N         connections, one thread each (1-%d)\n"
                "  -d SECONDS   duration (may end in s, m or h); SIGINT or SIGTERM stops it earlier\n"
                "  -k           keep-alive: reuse each connection (the default)\n"
                "  --close      Connection: close, a new connection per request\n"
                "  --delay-ms D each connection sleeps D ms (fractional) before each request (default 0)\n"
                "  --trace FILE write every request completed to FILE: START_NS LATENCY_US FIRST\n"
                "  TARGET       the Unix stream socket to send GET / to, or tcp:PORT or tcp:ADDRESS:PORT\n"
                "               (IPv4; ADDRESS defaults to 127.0.0.1)\n",
                MAX_CONNECTIONS);
}

// ADDRESS:PORT or PORT into tcp_address; -1 when it does not parse.
static int parse_tcp_target(const char *text) {
    const char *colon = strrchr(text, ':');
    const char *port_text = colon ? colon + 1 : text;
    char host[64] = "127.0.0.1";
    if (colon != NULL) {
        size_t length = (size_t)(colon - text);
        if (length == 0 || length >= sizeof host) return -1;
        memcpy(host, text, length);
        host[length] = 0;
    }
    char *end;
    errno = 0;
    long port = strtol(port_text, &end, 10);
    if (errno != 0 || *port_text == 0 || *end != 0 || port < 1 || port > 65535) return -1;
    memset(&tcp_address, 0, sizeof tcp_address);
    tcp_address.sin_family = AF_INET;
    tcp_address.sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &tcp_address.sin_addr) == 1 ? 0 : -1;
}

// SECONDS with an optional unit s, m or h; -1 when it does not parse.
static double parse_duration(const char *text) {
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    if (errno != 0 || end == text || value <= 0) return -1;
    if (*end == 's' && end[1] == 0) return value;
    if (*end == 'm' && end[1] == 0) return value * 60;
    if (*end == 'h' && end[1] == 0) return value * 3600;
    return *end == 0 ? value : -1;
}

int main(int argc, char **argv) {
    long connections = 32;
    double duration = 10;
    socket_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if ((strcmp(arg, "-c") == 0 || strcmp(arg, "-d") == 0) && i + 1 < argc) {
            const char *value = argv[++i];
            if (arg[1] == 'c') {
                char *end;
                connections = strtol(value, &end, 10);
                if (*value == 0 || *end != 0 || connections < 1 || connections > MAX_CONNECTIONS) {
                    fprintf(stderr, "unix-load: -c takes a count from 1 to %d, not '%s'\n", MAX_CONNECTIONS, value);
                    return 64;
                }
            } else {
                duration = parse_duration(value);
                if (duration <= 0 || duration > 86400 * 7) {
                    fprintf(stderr, "unix-load: -d takes a positive duration (e.g. 10, 10s, 1h), not '%s'\n", value);
                    return 64;
                }
            }
        } else if (strcmp(arg, "--delay-ms") == 0 && i + 1 < argc) {
            const char *value = argv[++i];
            char *end;
            errno = 0;
            double ms = strtod(value, &end);
            if (errno != 0 || end == value || *end != 0 || !(ms >= 0) || ms > 60000) {
                fprintf(stderr, "unix-load: --delay-ms takes milliseconds from 0 to 60000 (e.g. 1.6), not '%s'\n",
                        value);
                return 64;
            }
            delay_ns = (int64_t)(ms * 1e6 + 0.5);
        } else if (strcmp(arg, "--trace") == 0 && i + 1 < argc) {
            trace_path = argv[++i];
        } else if (strcmp(arg, "-k") == 0 || strcmp(arg, "--keepalive") == 0) {
            close_style = 0;
        } else if (strcmp(arg, "--close") == 0) {
            close_style = 1;
        } else if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (arg[0] == '-' || socket_path != NULL) {
            fprintf(stderr, "unix-load: unexpected argument '%s'\n", arg);
            usage(stderr);
            return 64;
        } else {
            socket_path = arg;
        }
    }
    if (socket_path == NULL) {
        usage(stderr);
        return 64;
    }
    if (strncmp(socket_path, "tcp:", 4) == 0) {
        if (parse_tcp_target(socket_path + 4) != 0) {
            fprintf(stderr, "unix-load: a TCP target is tcp:PORT or tcp:ADDRESS:PORT (IPv4, e.g. tcp:8080), not '%s'\n",
                    socket_path);
            return 64;
        }
        tcp_target = 1;
    } else if (strlen(socket_path) >= sizeof address.sun_path) {
        fprintf(stderr, "unix-load: the path is longer than %zu bytes: %s\n", sizeof address.sun_path - 1,
                socket_path);
        return 64;
    } else {
        memset(&address, 0, sizeof address);
        address.sun_family = AF_UNIX;
        memcpy(address.sun_path, socket_path, strlen(socket_path) + 1);
    }
    FILE *trace = NULL;
    if (trace_path != NULL && (trace = fopen(trace_path, "w")) == NULL) {
        fprintf(stderr, "unix-load: cannot write the trace to %s: %s\n", trace_path, strerror(errno));
        return 1;
    }
    struct timespec realtime, monotonic;
    clock_gettime(CLOCK_REALTIME, &realtime);
    clock_gettime(CLOCK_MONOTONIC, &monotonic);
    realtime_offset_ns = ((int64_t)realtime.tv_sec - monotonic.tv_sec) * 1000000000LL +
                         (realtime.tv_nsec - monotonic.tv_nsec);
    request_length = (size_t)snprintf(request, sizeof request, "GET / HTTP/1.1\r\nHost: localhost\r\n%s\r\n",
                                      close_style ? "Connection: close\r\n" : "");

    // SIGPIPE ignored (a send to a closed peer is a write error); SIGINT and SIGTERM blocked in every thread and
    // taken by the main thread's sigtimedwait.
    struct sigaction ignore;
    memset(&ignore, 0, sizeof ignore);
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    sigaction(SIGPIPE, &ignore, NULL);
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    int error = pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    if (error != 0) {
        fprintf(stderr, "unix-load: pthread_sigmask: %s\n", strerror(error));
        return 1;
    }

    struct worker *workers = calloc((size_t)connections, sizeof *workers);
    if (workers == NULL) {
        perror("unix-load: calloc");
        return 1;
    }
    for (long i = 0; i < connections; i++) {
        workers[i].histogram = calloc(BUCKETS, sizeof(uint64_t));
        if (workers[i].histogram == NULL) {
            perror("unix-load: calloc");
            return 1;
        }
    }
    int64_t started = now_ns();
    for (long i = 0; i < connections; i++) {
        error = pthread_create(&workers[i].thread, NULL, work, &workers[i]);
        if (error != 0) {
            fprintf(stderr, "unix-load: pthread_create: %s\n", strerror(error));
            return 1;
        }
    }

    int64_t deadline = started + (int64_t)(duration * 1e9);
    for (;;) {
        int64_t left = deadline - now_ns();
        if (left <= 0) break;
        struct timespec wait = {(time_t)(left / 1000000000LL), (long)(left % 1000000000LL)};
        int signal_number = sigtimedwait(&stop_signals, NULL, &wait);
        if (signal_number == SIGINT || signal_number == SIGTERM) break;
        if (signal_number < 0 && errno != EINTR && errno != EAGAIN) {
            perror("unix-load: sigtimedwait");
            break;
        }
    }
    int64_t stopped_at = now_ns();
    pthread_mutex_lock(&stop_lock);
    stop_flag = 1;
    pthread_mutex_unlock(&stop_lock);
    for (long i = 0; i < connections; i++) pthread_join(workers[i].thread, NULL);

    uint64_t completed = 0, non2xx = 0, bytes = 0, connect_errors = 0, read_errors = 0, write_errors = 0,
             timeouts = 0;
    uint64_t *histogram = calloc(BUCKETS, sizeof(uint64_t));
    if (histogram == NULL) {
        perror("unix-load: calloc");
        return 1;
    }
    for (long i = 0; i < connections; i++) {
        struct worker *w = &workers[i];
        completed += w->completed;
        non2xx += w->non2xx;
        bytes += w->bytes;
        connect_errors += w->connect_errors;
        read_errors += w->read_errors;
        write_errors += w->write_errors;
        timeouts += w->timeouts;
        for (size_t b = 0; b < BUCKETS; b++) histogram[b] += w->histogram[b];
    }

    double runtime_us = (double)(stopped_at - started) / 1000.0;
    char text[64], more[64];
    format_time_s(text, sizeof text, duration);
    printf("Running %s test @ %s%s\n", text, tcp_target ? "" : "unix:", socket_path);
    printf("  %ld connections\n", connections);
    printf("  Latency Distribution\n");
    static const double percentiles[] = {50, 75, 90, 99};
    for (size_t p = 0; p < sizeof percentiles / sizeof percentiles[0]; p++) {
        double value = 0;
        if (completed > 0) {
            // The smallest latency with at least p% of the requests at or below it.
            uint64_t rank = (uint64_t)(percentiles[p] / 100.0 * (double)completed + 0.999999);
            if (rank < 1) rank = 1;
            uint64_t seen = 0;
            for (size_t b = 0; b < BUCKETS; b++) {
                seen += histogram[b];
                if (seen >= rank) {
                    value = value_of(b);
                    break;
                }
            }
        }
        format_time_us(text, sizeof text, value);
        printf("%7.0f%%", percentiles[p]);
        print_units(text, 10);
        printf("\n");
    }
    format_time_us(text, sizeof text, runtime_us);
    format_binary(more, sizeof more, (double)bytes);
    printf("  %llu requests in %s, %sB read\n", (unsigned long long)completed, text, more);
    printf("  Socket errors: connect %llu, read %llu, write %llu, timeout %llu\n", (unsigned long long)connect_errors,
           (unsigned long long)read_errors, (unsigned long long)write_errors, (unsigned long long)timeouts);
    printf("  Non-2xx or 3xx responses: %llu\n", (unsigned long long)non2xx);
    double seconds = runtime_us / 1e6;
    printf("Requests/sec: %9.2f\n", seconds > 0 ? (double)completed / seconds : 0.0);
    format_binary(more, sizeof more, seconds > 0 ? (double)bytes / seconds : 0.0);
    printf("Transfer/sec: %10sB\n", more);
    fflush(stdout);
    if (trace != NULL) {
        for (long i = 0; i < connections; i++) {
            for (size_t r = 0; r < workers[i].records_used; r++) {
                const struct record *record = &workers[i].records[r];
                fprintf(trace, "%lld %u %u\n", (long long)record->start_ns, record->latency_us, record->first);
            }
            free(workers[i].records);
        }
        if (fclose(trace) != 0) {
            fprintf(stderr, "unix-load: writing the trace to %s: %s\n", trace_path, strerror(errno));
            return 1;
        }
    }
    for (long i = 0; i < connections; i++) free(workers[i].histogram);
    free(workers);
    free(histogram);
    return 0;
}
