package main

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// outTarget is where a report file named on the command line goes.
type outTarget struct {
	// path is the file to replace by rename (a symbolic link's target,
	// so that the link stays) or, inPlace, to open and write.
	path string
	// inPlace: a device, a pipe or an open descriptor (/dev/null,
	// /dev/stdout, a FIFO) is written where it is; a rename would put a
	// regular file in its place.
	inPlace bool
	// fd is the descriptor of this process the path names (/dev/stdout,
	// /dev/fd/N, /proc/self/fd/N), -1 for none. Standard output and error
	// are written through the process's own files, so that what the run
	// prints there and the report keep their order.
	fd int
}

// resolveOut follows path's symbolic links (a bounded number) to the file
// a report written to it must reach.
func resolveOut(path string) outTarget {
	p := path
	for range 40 {
		if fd, ok := descriptor(p); ok {
			return outTarget{path: p, inPlace: true, fd: fd}
		}
		fi, err := os.Lstat(p)
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			break
		}
		link, err := os.Readlink(p)
		if err != nil {
			break
		}
		if !filepath.IsAbs(link) {
			link = filepath.Join(filepath.Dir(p), link)
		}
		p = link
	}
	if st, err := os.Stat(p); err == nil && !st.Mode().IsRegular() && !st.IsDir() {
		return outTarget{path: p, inPlace: true, fd: -1}
	}
	return outTarget{path: p, fd: -1}
}

// descriptor reports the descriptor of this process that p names, if it
// names one.
func descriptor(p string) (int, bool) {
	for _, dir := range []string{"/proc/self/fd/", "/dev/fd/"} {
		if rest, ok := strings.CutPrefix(p, dir); ok {
			if n, err := strconv.Atoi(rest); err == nil && n >= 0 {
				return n, true
			}
		}
	}
	switch p {
	case "/dev/stdout":
		return 1, true
	case "/dev/stderr":
		return 2, true
	}
	return -1, false
}

// openInPlace opens t for writing where it is; close releases what it
// opened (nothing for standard output and error, which stay open).
func openInPlace(t outTarget) (w io.Writer, close func() error, err error) {
	switch t.fd {
	case 1:
		return os.Stdout, func() error { return nil }, nil
	case 2:
		return os.Stderr, func() error { return nil }, nil
	}
	flag := os.O_WRONLY
	if t.fd >= 0 {
		flag |= os.O_APPEND // another descriptor: after what it holds
	}
	f, err := os.OpenFile(t.path, flag, 0)
	if err != nil {
		return nil, nil, err
	}
	return f, f.Close, nil
}
