// The articles' server made lossless with package lossless: sockets from LISTEN_FDS or an SO_REUSEPORT bind of
// SUPERVISOR_LISTEN, READY=1 once serving, and a drain that closes no connection under a client.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"

	"supervisor/integrations/go/lossless"
)

func main() {
	grace := flag.Duration("grace", 0, "how long connections stay open once draining (default 1s)")
	deadline := flag.Duration("deadline", 0, "close what is still open after draining this long (default 25s)")
	flag.Parse()

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from go-lossless pid %d\n", os.Getpid())
	})
	err := lossless.ListenAndServe(&http.Server{Handler: mux}, lossless.Options{Grace: *grace, Deadline: *deadline})
	if err != nil {
		log.Fatal(err)
	}
}
