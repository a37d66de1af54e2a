package loadgen

import "syscall"

// fileCap is the most files a process may open whatever its hard limit
// says: macOS reports an unlimited hard limit and quietly holds setrlimit
// to kern.maxfilesperproc. 0 when it cannot be read.
func fileCap() uint64 {
	n, err := syscall.SysctlUint32("kern.maxfilesperproc")
	if err != nil {
		return 0
	}
	return uint64(n)
}
