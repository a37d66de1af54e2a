package loadgen

import (
	"errors"
	"strings"
	"testing"
)

// TestPlanFiles: 50,000 clients of the shared pool fit under 20,000 open
// files against the embedded cluster (the estimate used to count two
// files per client and endpoint and refuse 10,000); with a connection per
// client the refusal says how many fit and why.
func TestPlanFiles(t *testing.T) {
	embedded := func(clients uint64, perClient bool, outbox uint64) fileNeeds {
		return fileNeeds{clients: clients, endpoints: 3, perConn: 2, connPerClient: perClient, outboxMost: outbox}
	}
	tests := []struct {
		name    string
		hard    uint64
		n       fileNeeds
		shared  int    // want sharedConns
		idle    int    // want idlePerClient
		wantErr string // substring; "" for none
	}{
		{"small run fits whole", 20_000, embedded(100, false, 0), 0, 0, ""},
		{"10,000 shared", 20_000, embedded(10_000, false, 0), 1645, 0, ""},
		{"50,000 shared", 20_000, embedded(50_000, false, 0), 1645, 0, ""},
		{"50,000 shared external", 20_000, fileNeeds{clients: 50_000, endpoints: 2, perConn: 1}, 4936, 0, ""},
		{"9,000 per client", 20_000, embedded(9_000, true, 0), 0, 1, ""},
		{"10,000 per client", 20_000, embedded(10_000, true, 0), 0, 0, "9872 clients fit under the open-file hard limit 20000"},
		{"per client names the other end", 20_000, embedded(50_000, true, 0), 0, 0, "the embedded cluster holds the other end"},
		{"durable outboxes", 20_000, embedded(5_000, false, 12), 0, 0, "durable outboxes"},
		{"no limit known", 0, embedded(1_000_000, true, 12), 0, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := planFiles(tt.hard, tt.n)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrTooManyFiles) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want ErrTooManyFiles saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.sharedConns != tt.shared || p.idlePerClient != tt.idle {
				t.Errorf("plan %+v, want shared %d idle %d", p, tt.shared, tt.idle)
			}
			if tt.hard > 0 && p.soft > tt.hard {
				t.Errorf("soft limit %d above the hard %d", p.soft, tt.hard)
			}
			if tt.hard > 0 && p.sharedConns > 0 {
				if used := reservedFiles + uint64(p.sharedConns)*tt.n.endpoints*tt.n.perConn + tt.n.clients*tt.n.outboxMost; used > tt.hard {
					t.Errorf("the capped pool may hold %d files, over the hard limit %d", used, tt.hard)
				}
			}
		})
	}
}
