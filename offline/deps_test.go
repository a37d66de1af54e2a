package offline

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// TestSDKDoesNotLinkSQLite: a program that calls only client.New (and so
// the in-memory outbox) must not link SQLite; the durable outbox lives in
// offline/sqlite for that. It asks the go command for the dependency graph
// of client and offline.
func TestSDKDoesNotLinkSQLite(t *testing.T) {
	// go test puts the go command of its own GOROOT first on the PATH of
	// the test binary.
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	pkgs := []string{"github.com/regfleet/regfleet/client", "github.com/regfleet/regfleet/offline"}
	out, err := exec.Command(gocmd, append([]string{"list", "-deps"}, pkgs...)...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list -deps: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list -deps: %v", err)
	}
	for dep := range strings.FieldsSeq(string(out)) {
		if strings.HasPrefix(dep, "modernc.org/") || dep == "github.com/regfleet/regfleet/offline/sqlite" {
			t.Errorf("%s depends on %s: a program using the client links SQLite", strings.Join(pkgs, " and "), dep)
		}
	}
}
