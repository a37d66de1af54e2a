package offline_test

import (
	"testing"

	"github.com/regfleet/regfleet/offline"
	"github.com/regfleet/regfleet/offline/outboxtest"
)

func TestMemoryContract(t *testing.T) {
	outboxtest.Run(t, func(t *testing.T, o outboxtest.Options) offline.Manager {
		return offline.NewMemory(offline.MemoryOptions{MaxItemBytes: o.MaxItemBytes, MaxItems: o.MaxItems, MaxBytes: o.MaxBytes, Now: o.Now})
	})
}
