package loadgen

import (
	"errors"
	"fmt"
)

// ErrTooManyFiles is wrapped by the error of a run whose clients cannot fit
// under the process's hard limit on open files.
var ErrTooManyFiles = errors.New("loadgen: not enough open files")

// Open files a run plans for.
const (
	// reservedFiles are kept for the process itself: its binary, logs,
	// report files, the embedded cluster's listeners.
	reservedFiles = 256
	// minSharedConns is the fewest connections per endpoint the shared
	// pool is given; below that the run is refused.
	minSharedConns = 16
	// outboxLeastFiles are the files a durable outbox holds at least:
	// its database and WAL files once for its pool and once for its
	// drain, its shared memory and its lock file.
	outboxLeastFiles = 6
)

// filePlan is how a run fits its connections and outboxes under the
// open-file limit.
type filePlan struct {
	hard uint64 // the hard limit; 0: none known
	soft uint64 // the soft limit to set; 0: leave it
	// sharedConns caps the shared pool's connections per endpoint
	// (http.Transport.MaxConnsPerHost); 0: no cap.
	sharedConns int
	// idlePerClient caps the idle connections each client's own pool
	// keeps over all endpoints (http.Transport.MaxIdleConns); 0: no cap.
	idlePerClient int
}

// fileNeeds are the inputs of planFiles.
type fileNeeds struct {
	clients       uint64 // clients of this process
	endpoints     uint64 // endpoints a client rotates over, each with its own connections
	perConn       uint64 // files per connection: 2 when the embedded cluster holds the other end in this process
	outboxMost    uint64 // files a durable outbox may hold; 0 without one
	connPerClient bool
}

// planFiles fits n under the hard limit. A client of the shared pool holds
// no connection of its own: the fleet needs as many connections as it has
// requests in flight at once, which is far below one per client (10,000
// clients polling every 30 s keep a few dozen busy), but reaches one per
// client when every server hangs. The pool is given all the files the
// limit leaves (half of them, for the ends of closing connections), a
// connection per client and endpoint when they fit; past that cap a
// request waits for a connection, which only a cluster that
// holds thousands of requests at once makes it do. With a connection per
// client, as on desktops, each client holds at least one: that is the
// floor, and the run is refused, saying how many clients fit, below it.
func planFiles(hard uint64, n fileNeeds) (filePlan, error) {
	p := filePlan{hard: hard}
	outboxLeast := uint64(0)
	if n.outboxMost > 0 {
		outboxLeast = outboxLeastFiles
	}
	want := reservedFiles + n.clients*(n.endpoints*n.perConn+n.outboxMost)
	if hard == 0 || want <= hard {
		p.soft = want
		return p, nil
	}
	p.soft = hard
	if n.connPerClient {
		least := reservedFiles + n.clients*(n.perConn+outboxLeast)
		if least > hard {
			fit := (hard - min(hard, reservedFiles)) / (n.perConn + outboxLeast)
			return p, fmt.Errorf("%w: with a connection per client (--conn-per-client) each client holds at least %s; "+
				"%d clients fit under the open-file hard limit %d (%d kept for the process), %d asked: "+
				"run fewer clients per process (--shard), raise the hard limit (ulimit -Hn), or share one pool (no --conn-per-client)",
				ErrTooManyFiles, perClientText(n, outboxLeast), fit, hard, reservedFiles, n.clients)
		}
		p.idlePerClient = 1
		return p, nil
	}
	budget := int64(hard) - reservedFiles - int64(n.clients*n.outboxMost)
	if budget < 0 || uint64(budget) < minSharedConns*n.endpoints*n.perConn {
		least := reservedFiles + n.clients*outboxLeast + minSharedConns*n.endpoints*n.perConn
		if least > hard {
			return p, fmt.Errorf("%w: %d clients with durable outboxes (--outbox-dir, %d to %d files each) and a pool of %d connections per endpoint need at least %d open files, the hard limit is %d: "+
				"run fewer clients per process (--shard) or raise the hard limit (ulimit -Hn)",
				ErrTooManyFiles, n.clients, outboxLeast, n.outboxMost, minSharedConns, least, hard)
		}
		// The outboxes may not all hold their most at once: give the
		// pool its least.
		budget = int64(minSharedConns * n.endpoints * n.perConn)
	}
	// Half: a connection the client gives up on (an attempt timeout)
	// is closed at once on its side, and at the server's when the server
	// notices, so at the worst moment both ends of old and new
	// connections are open at once.
	p.sharedConns = max(minSharedConns, int(uint64(budget)/(n.endpoints*n.perConn)/2))
	return p, nil
}

// perClientText says what one client holds, for an error message.
func perClientText(n fileNeeds, outboxLeast uint64) string {
	s := fmt.Sprintf("%d open file", n.perConn)
	if n.perConn != 1 {
		s += "s"
	}
	if n.perConn == 2 {
		s += " (the embedded cluster holds the other end of its connection in this process)"
	}
	if outboxLeast > 0 {
		s += fmt.Sprintf(" and %d for its durable outbox", outboxLeast)
	}
	return s
}
