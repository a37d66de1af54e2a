// Package drill runs the failover test plan of seed 001 (two Registration
// Server instances behind a load balancer, one database) against real
// processes on loopback, and checks the service, the SDK clients and the
// monitoring probe against the plan's expected results.
//
// The drill is a test behind the build tag "drill", so that a plain
// `go test ./...` skips it:
//
//	go test -tags drill -count=1 -v ./drill/...
//	DRILL_OUT=drill.json go test -tags drill -count=1 ./drill/...
//
// It builds cmd/regsim and cmd/regprobe, starts one regsim process serving
// two instances that share one store (the "database"), puts an in-process
// toxiproxy relay in front of each instance (the instance's network), starts
// HAProxy (the Debian package; `apt-get install -y haproxy`) with health
// checks on /healthz in front of the relays, and runs 240 SDK clients
// (package client): 100 through HAProxy, 100 with both instance URLs
// (client-side round robin) and 40 with instance 0 as primary and instance 1
// as backup. It then breaks and repairs the pieces one scenario at a time,
// prints a table (scenario, expected, failed calls, lost, duplicated, time
// to Green, herd ratio, PASS/FAIL) and writes the same as JSON to $DRILL_OUT
// (or a temporary directory). Any FAIL fails the test.
//
// How each failure is produced, and where that differs from the real thing,
// is written in the "how" field of every scenario; see drill_test.go.
package drill
