// The server of the articles the supervisor grew from: every instance binds the port with SO_REUSEPORT and serves
// with http.Serve. No signal handling: SIGTERM kills it with its connections. The "before" of go-lossless.
package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
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
		fmt.Fprintf(w, "hello from go-articles pid %d\n", os.Getpid())
	})
	log.Fatal(http.Serve(l, nil))
}

// soReusePort is SO_REUSEPORT on Linux; package syscall predates it (golang.org/x/sys/unix has it).
const soReusePort = 0xf
