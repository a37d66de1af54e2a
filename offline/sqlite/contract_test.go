package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/regfleet/regfleet/offline"
	"github.com/regfleet/regfleet/offline/outboxtest"
)

func TestContract(t *testing.T) {
	outboxtest.Run(t, func(t *testing.T, o outboxtest.Options) offline.Manager {
		t.Helper()
		ob, err := Open(filepath.Join(t.TempDir(), "outbox.db"), Options{MaxItemBytes: o.MaxItemBytes, MaxItems: o.MaxItems, MaxBytes: o.MaxBytes, Now: o.Now})
		if err != nil {
			t.Fatal(err)
		}
		return ob
	})
}
