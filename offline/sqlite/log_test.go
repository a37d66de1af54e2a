package sqlite

import (
	"encoding/base64"
	"os"
	"testing"
)

func getenv(k string) string { return os.Getenv(k) }

func decodeB64(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("base64 %q: %v", s, err)
	}
	return string(b)
}
