// The articles' server with graceful shutdown as the net/http documentation of Server.Shutdown shows it: on SIGTERM
// Shutdown closes the listener and the idle connections at once, then waits for the active ones. The idle ones are
// closed under clients that are about to send their next request on them.
package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	addr := strings.Split(os.Getenv("SUPERVISOR_LISTEN"), ",")[0]
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReusePort, 1)
		})
	}}
	l, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from go-docs pid %d\n", os.Getpid())
	})

	srv := &http.Server{}
	idleConnsClosed := make(chan struct{})
	go func() {
		sigint := make(chan os.Signal, 1)
		signal.Notify(sigint, os.Interrupt, syscall.SIGTERM)
		<-sigint
		if err := srv.Shutdown(context.Background()); err != nil {
			log.Printf("HTTP server Shutdown: %v", err)
		}
		close(idleConnsClosed)
	}()
	if err := srv.Serve(l); err != http.ErrServerClosed {
		log.Fatalf("HTTP server Serve: %v", err)
	}
	<-idleConnsClosed
}

// soReusePort is SO_REUSEPORT on Linux; package syscall predates it (golang.org/x/sys/unix has it).
const soReusePort = 0xf
