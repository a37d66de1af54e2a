//go:build !unix

package main

import "os"

// canWriteInPlace reports why path, a device, cannot be opened for
// writing (by opening it: there is no access check here).
func canWriteInPlace(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	return f.Close()
}
