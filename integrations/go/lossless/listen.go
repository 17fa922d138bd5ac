package lossless

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// firstListenFD is where socket activation puts the first socket (SD_LISTEN_FDS_START).
const firstListenFD = 3

// Listeners returns the sockets to serve on. When LISTEN_FDS is set and LISTEN_PID is this process (the supervisor's
// reuseport and shared modes, systemd socket activation) they are fds 3, 4, …, and LISTEN_* is removed from the
// environment so children do not take them too. Otherwise each address is bound with SO_REUSEADDR and SO_REUSEPORT
// (the supervisor's app mode): the addresses given, else those of SUPERVISOR_LISTEN. An error when there is none.
func Listeners(addrs ...string) ([]net.Listener, error) {
	if inherited, err := InheritedListeners(); err != nil || len(inherited) > 0 {
		return inherited, err
	}
	if len(addrs) == 0 {
		addrs = SupervisorListen()
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("no socket to serve on: neither LISTEN_FDS (for this pid) nor SUPERVISOR_LISTEN is set")
	}
	var listeners []net.Listener
	for _, addr := range addrs {
		l, err := ListenReusePort(addr)
		if err != nil {
			closeAll(listeners)
			return nil, err
		}
		listeners = append(listeners, l)
	}
	return listeners, nil
}

// SupervisorListen returns the addresses of SUPERVISOR_LISTEN (`127.0.0.1:8080,[::1]:8080`), empty when it is unset.
func SupervisorListen() []string {
	var addrs []string
	for _, a := range strings.Split(os.Getenv("SUPERVISOR_LISTEN"), ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	return addrs
}

// InheritedListeners returns the sockets of LISTEN_FDS when LISTEN_PID is this process, nil when they are not meant
// for it. Closing one closes this process's descriptor only: the supervisor keeps its own.
func InheritedListeners() ([]net.Listener, error) {
	pid, err := strconv.Atoi(os.Getenv("LISTEN_PID"))
	if err != nil || pid != os.Getpid() {
		return nil, nil
	}
	count, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err != nil || count < 1 {
		return nil, fmt.Errorf("LISTEN_FDS=%q: not a positive count", os.Getenv("LISTEN_FDS"))
	}
	names := strings.Split(os.Getenv("LISTEN_FDNAMES"), ":")
	for _, v := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
		os.Unsetenv(v)
	}
	var listeners []net.Listener
	for i := 0; i < count; i++ {
		name := fmt.Sprintf("listen%d", i)
		if i < len(names) && names[i] != "" {
			name = names[i]
		}
		f := os.NewFile(uintptr(firstListenFD+i), name)
		l, err := net.FileListener(f) // dups the descriptor (close-on-exec)
		f.Close()
		if err != nil {
			closeAll(listeners)
			return nil, fmt.Errorf("LISTEN_FDS socket %d (%s): %w", firstListenFD+i, name, err)
		}
		listeners = append(listeners, l)
	}
	return listeners, nil
}

// ListenReusePort binds addr (`host:port`) with SO_REUSEADDR and SO_REUSEPORT and listens, so several processes
// share the port and the kernel balances connections across them.
func ListenReusePort(addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var sockErr error
		err := c.Control(func(fd uintptr) {
			sockErr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
			if sockErr == nil {
				sockErr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReusePort, 1)
			}
		})
		if err != nil {
			return err
		}
		return sockErr
	}}
	return lc.Listen(context.Background(), "tcp", addr)
}

func closeAll(listeners []net.Listener) {
	for _, l := range listeners {
		l.Close()
	}
}

// soReusePort is SO_REUSEPORT on Linux; package syscall predates it (golang.org/x/sys/unix has it).
const soReusePort = 0xf
