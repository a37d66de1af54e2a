//go:build unix

package main

import "golang.org/x/sys/unix"

// canWriteInPlace reports why path, a device, a pipe or a descriptor,
// cannot be opened for writing, without opening it (a FIFO would wait for
// a reader, some devices act on an open).
func canWriteInPlace(path string) error {
	return unix.Access(path, unix.W_OK)
}
