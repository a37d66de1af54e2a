package regsim

import (
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
)

// TestStoppedInstanceRefuses: right after Down, a connection to a stopped
// instance is refused, as it is when the process has gone; it is never
// accepted by the kernel and then reset (the listener used to stay open
// until the server's goroutine closed it, and a probe read "connection
// reset" for a stopped instance).
func TestStoppedInstanceRefuses(t *testing.T) {
	c, err := Start(Config{Instances: 1, Users: 1}, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr := strings.TrimPrefix(c.Instance(0).URL(), "http://")
	for i := range 50 {
		c.Instance(0).SetFault(Fault{})
		c.Instance(0).SetFault(Fault{Down: true})
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			conn.Close()
			t.Fatalf("round %d: a stopped instance accepted a connection", i)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("round %d: dial a stopped instance: %v, want connection refused", i, err)
		}
	}
}
