package sqlite

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// sqliteMagic starts every SQLite database file.
const sqliteMagic = "SQLite format 3\x00"

// headerSize is the size of the SQLite database header.
const headerSize = 100

// walHeaderSize is the size of the WAL file header; a WAL no longer than
// that holds no frames.
const walHeaderSize = 32

// checkFile looks at the bytes of an existing database file before SQLite
// opens it, to report an empty, short or truncated file clearly (SQLite
// would take an empty file for a new database and might read missing pages
// as zeros). A missing file is fine: Open creates it.
func checkFile(path string) error {
	fi, err := os.Stat(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("offline: open outbox %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("offline: open outbox %s: not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("offline: open outbox %s: %w", path, err)
	}
	defer f.Close()
	var hdr [headerSize]byte
	n, err := io.ReadFull(f, hdr[:])
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return fmt.Errorf("offline: open outbox %s: %w", path, err)
	}
	walFrames := false
	if wi, err := os.Stat(path + "-wal"); err == nil && wi.Size() > walHeaderSize {
		walFrames = true
	}
	if problem := checkHeader(hdr[:n], fi.Size(), walFrames); problem != "" {
		return &CorruptError{Path: path, Detail: problem}
	}
	return nil
}

// checkHeader returns what is wrong with a database file whose first bytes
// are hdr (at most headerSize) and whose size is size, or "" if nothing is
// visibly wrong. When the WAL holds frames, the file may legitimately lag
// behind its header (a checkpoint was interrupted; the WAL repairs it), so
// the size is not checked against the header.
func checkHeader(hdr []byte, size int64, walFrames bool) string {
	if size == 0 {
		return "empty file (truncated?): Open never leaves an empty database file"
	}
	if len(hdr) < headerSize || size < headerSize {
		return fmt.Sprintf("truncated: %d bytes, shorter than the %d-byte SQLite header", size, headerSize)
	}
	if string(hdr[:len(sqliteMagic)]) != sqliteMagic {
		return "not a SQLite database (bad magic string in the header)"
	}
	pageSize := int64(binary.BigEndian.Uint16(hdr[16:18]))
	if pageSize == 1 {
		pageSize = 65536
	}
	if pageSize < 512 || pageSize > 65536 || pageSize&(pageSize-1) != 0 {
		return fmt.Sprintf("bad page size %d in the header", pageSize)
	}
	if walFrames {
		return ""
	}
	if size < pageSize {
		return fmt.Sprintf("truncated: %d bytes, shorter than one %d-byte page", size, pageSize)
	}
	if size%pageSize != 0 {
		return fmt.Sprintf("truncated: %d bytes is not a whole number of %d-byte pages", size, pageSize)
	}
	changeCounter := binary.BigEndian.Uint32(hdr[24:28])
	pages := int64(binary.BigEndian.Uint32(hdr[28:32]))
	validFor := binary.BigEndian.Uint32(hdr[92:96])
	if pages > 0 && changeCounter == validFor && size < pages*pageSize {
		return fmt.Sprintf("truncated: the header counts %d pages of %d bytes (%d bytes), the file has %d bytes", pages, pageSize, pages*pageSize, size)
	}
	return ""
}
