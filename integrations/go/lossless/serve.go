// Package lossless serves a net/http server under the supervisor (or systemd) so that stopping it loses no request:
// it takes its sockets from LISTEN_FDS or binds SUPERVISOR_LISTEN with SO_REUSEPORT, sends READY=1 once it serves,
// and on SIGTERM drains instead of closing idle keep-alive connections under the client (what Server.Shutdown and
// SetKeepAlivesEnabled(false) do at once, racing the client's next request on them).
package lossless

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Options tune the drain. The zero value is the defaults.
type Options struct {
	// Grace is how long connections stay open once the drain starts: every request answered from then on carries
	// `Connection: close` and its connection closes after the response; a connection that stayed idle through the
	// whole grace is closed after it. Default 1 s: longer than a busy client's pause between two requests.
	Grace time.Duration
	// Deadline is how long the drain may take in all; whatever is still open then is closed. Default 25 s (below the
	// supervisor's default drain timeout of 30 s, after which it sends SIGKILL).
	Deadline time.Duration
	// Signals start the drain. Default SIGTERM and SIGINT.
	Signals []os.Signal
	// Logf logs the drain's steps. Default log.Printf.
	Logf func(format string, args ...any)
}

func (o Options) withDefaults() Options {
	if o.Grace <= 0 {
		o.Grace = time.Second
	}
	if o.Deadline <= 0 {
		o.Deadline = 25 * time.Second
	}
	if len(o.Signals) == 0 {
		o.Signals = []os.Signal{syscall.SIGTERM, syscall.SIGINT}
	}
	if o.Logf == nil {
		o.Logf = log.Printf
	}
	return o
}

// ErrDrainDeadline is returned by Serve when connections were still open at Options.Deadline and were closed.
var ErrDrainDeadline = errors.New("drain deadline reached: closed the connections still open")

// ListenAndServe serves srv on Listeners(srv.Addr) (srv.Addr when set, else SUPERVISOR_LISTEN; LISTEN_FDS first),
// see Serve.
func ListenAndServe(srv *http.Server, opts Options) error {
	var addrs []string
	if srv.Addr != "" {
		addrs = []string{srv.Addr}
	}
	listeners, err := Listeners(addrs...)
	if err != nil {
		return err
	}
	return Serve(srv, listeners, opts)
}

// Serve serves srv on listeners, sends READY=1 over NOTIFY_SOCKET, and waits for one of Options.Signals. Then it
// drains: it closes the listeners, answers every request from then on with `Connection: close` (its connection
// closes after the response), closes a connection only once it stayed idle through Options.Grace, and returns when
// none is left; at Options.Deadline it closes the rest. Returns nil when drained, ErrDrainDeadline when connections
// had to be closed, or the error of a listener that failed before any signal.
//
// Serve sets srv.Handler (wrapped) and srv.ConnState (chained): set yours before calling it. It is written for
// HTTP/1.1: an HTTP/2 connection (TLS) is closed once idle through the grace too, without a GOAWAY first.
func Serve(srv *http.Server, listeners []net.Listener, opts Options) error {
	opts = opts.withDefaults()
	d := &drainer{opts: opts, conns: map[net.Conn]connState{}, empty: make(chan struct{}, 1)}
	d.install(srv)

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, opts.Signals...)
	defer signal.Stop(signals)

	served := make(chan error, len(listeners))
	var serving sync.WaitGroup
	for _, l := range listeners {
		serving.Add(1)
		go func(l net.Listener) {
			defer serving.Done()
			served <- srv.Serve(l)
		}(l)
	}
	if err := Notify("READY=1"); err != nil {
		opts.Logf("lossless: READY=1 not sent: %v", err)
	}

	select {
	case sig := <-signals:
		opts.Logf("lossless: %v: draining (grace %v, deadline %v)", sig, opts.Grace, opts.Deadline)
	case err := <-served:
		closeAll(listeners)
		serving.Wait()
		srv.Close()
		return fmt.Errorf("serving stopped: %w", err)
	}
	return d.drain(srv, listeners, &serving)
}

// drainer tracks the server's connections and whether the drain started.
type drainer struct {
	opts     Options
	draining atomic.Bool
	mu       sync.Mutex
	conns    map[net.Conn]connState
	empty    chan struct{} // gets a token when the last connection closes while draining
}

// connState is a connection's last net/http state and when it entered it.
type connState struct {
	state http.ConnState
	since time.Time
}

func (d *drainer) install(srv *http.Server) {
	inner := srv.Handler
	if inner == nil {
		inner = http.DefaultServeMux
	}
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// net/http closes the connection after a response whose header says so. SetKeepAlivesEnabled(false) would
		// do the same but also closes idle connections at once, the race this package exists to avoid.
		if r.ProtoMajor == 1 && d.draining.Load() {
			w.Header().Set("Connection", "close")
		}
		inner.ServeHTTP(w, r)
	})
	chained := srv.ConnState
	srv.ConnState = func(c net.Conn, state http.ConnState) {
		d.track(c, state)
		if chained != nil {
			chained(c, state)
		}
	}
}

func (d *drainer) track(c net.Conn, state http.ConnState) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch state {
	case http.StateClosed, http.StateHijacked:
		delete(d.conns, c)
		if len(d.conns) == 0 && d.draining.Load() {
			select {
			case d.empty <- struct{}{}:
			default:
			}
		}
	default:
		d.conns[c] = connState{state: state, since: time.Now()}
	}
}

// closeIdle closes the connections that have waited for a request through a whole grace since the later of their
// last response (or accept) and the drain's start, and returns how many are still open.
func (d *drainer) closeIdle(drainStart, now time.Time) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	for c, s := range d.conns {
		if s.state != http.StateIdle && s.state != http.StateNew {
			continue
		}
		idleSince := s.since
		if idleSince.Before(drainStart) {
			idleSince = drainStart
		}
		if now.Sub(idleSince) >= d.opts.Grace {
			c.Close() // its serving goroutine sees the error and reports StateClosed
		}
	}
	return len(d.conns)
}

func (d *drainer) drain(srv *http.Server, listeners []net.Listener, serving *sync.WaitGroup) error {
	start := time.Now()
	deadline := start.Add(d.opts.Deadline)
	d.draining.Store(true)
	// Stop accepting. In an SO_REUSEPORT group the kernel sends new connections to the other members; with
	// LISTEN_FDS this closes our copy only, so nothing queued is lost.
	closeAll(listeners)
	serving.Wait() // every accepted connection has passed StateNew now
	Notify("STATUS=draining")

	// Not srv.Shutdown yet: it closes idle connections at once, racing the client's next request on them. Each
	// request answered from now on closes its connection; a connection is closed by us only after a grace idle.
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		now := time.Now()
		left := d.closeIdle(start, now)
		if left == 0 {
			break
		}
		if now.After(deadline) {
			srv.Close()
			d.opts.Logf("lossless: %v after %v: closed %d connections",
				ErrDrainDeadline, time.Since(start).Round(time.Millisecond), left)
			return ErrDrainDeadline
		}
		select {
		case <-tick.C:
		case <-d.empty:
		}
	}
	// No connection is left; Shutdown marks the server closed.
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		srv.Close()
		return ErrDrainDeadline
	}
	d.opts.Logf("lossless: drained in %v", time.Since(start).Round(time.Millisecond))
	return nil
}
