package lossless

import (
	"net"
	"os"
)

// Notify sends state (`READY=1`, `STATUS=draining`) to the service manager over NOTIFY_SOCKET, the sd_notify
// protocol: one datagram on a unix socket; a leading `@` is Linux's abstract namespace (Go's net package maps it to
// the leading NUL byte). Does nothing when NOTIFY_SOCKET is unset.
func Notify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Write([]byte(state))
	return err
}
