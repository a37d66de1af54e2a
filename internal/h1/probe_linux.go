//go:build linux

package h1

import (
	"syscall"
	"unsafe"
)

// prober checks, without blocking, whether an idle connection was closed
// by its server: one non-blocking MSG_PEEK recv on the socket (a raw
// recvfrom without an address, which allocates nothing).
type prober struct {
	rc    syscall.RawConn
	fn    func(fd uintptr) bool
	buf   [1]byte
	n     uintptr
	errno syscall.Errno
}

// alive reports whether c's socket is open with nothing to read: an idle
// connection the server closed reads EOF (or a reset), and one with bytes
// waiting holds something no request asked for.
func (c *conn) alive() bool {
	p := &c.probe
	if p.fn == nil {
		sc, ok := c.raw.(syscall.Conn)
		if !ok {
			return true
		}
		rc, err := sc.SyscallConn()
		if err != nil {
			return true
		}
		p.rc = rc
		p.fn = func(fd uintptr) bool {
			p.n, _, p.errno = syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&p.buf[0])), 1,
				syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
			return true
		}
	}
	if err := p.rc.Read(p.fn); err != nil {
		return false
	}
	return p.errno == syscall.EAGAIN
}
