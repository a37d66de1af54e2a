//go:build drill && linux

package drill

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// network is the network in front of the instances: one in-process
// toxiproxy relay per instance. Everything that talks to an instance
// (HAProxy and its health checks, the round-robin and primary/backup
// clients, the probe) goes through the instance's relay, so a fault of the
// relay is a fault of the instance's network for all of them.
type network struct {
	server *toxiproxy.ApiServer
	links  []*link
}

// link is the relay in front of one instance.
type link struct {
	name string
	p    *toxiproxy.Proxy
	addr string // the relay's listen address: the instance's network address

	mu      sync.Mutex
	cut     bool // guarded by mu
	refused bool // guarded by mu
}

// cutToxics are the toxics of a network cut: a timeout toxic with timeout
// 0 in each direction drops every byte and never closes the connection, so
// packets vanish as on a pulled cable (no RST, no FIN).
var cutToxics = []string{
	`{"name":"cut_upstream","type":"timeout","stream":"upstream","toxicity":1,"attributes":{"timeout":0}}`,
	`{"name":"cut_downstream","type":"timeout","stream":"downstream","toxicity":1,"attributes":{"timeout":0}}`,
}

// newNetwork starts one relay on a free loopback port per upstream.
func newNetwork(upstreams []string) (*network, error) {
	n := &network{server: toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())}
	for i, up := range upstreams {
		name := fmt.Sprintf("inst%d", i)
		p := toxiproxy.NewProxy(n.server, name, "127.0.0.1:0", up)
		if err := p.Start(); err != nil {
			n.close()
			return nil, fmt.Errorf("relay %s: %w", name, err)
		}
		n.links = append(n.links, &link{name: name, p: p, addr: p.Listen})
	}
	return n, nil
}

// close stops every relay (closing its connections).
func (n *network) close() {
	for _, l := range n.links {
		l.p.Stop()
	}
}

// URL is the instance's base URL on the network.
func (l *link) URL() string { return "http://" + l.addr }

// setCut adds or removes the cut toxics.
func (l *link) setCut(on bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut == on {
		return nil
	}
	var errs []error
	for _, js := range cutToxics {
		if on {
			_, err := l.p.Toxics.AddToxicJson(strings.NewReader(js))
			errs = append(errs, err)
		} else {
			name := js[len(`{"name":"`):strings.Index(js, `","type"`)]
			errs = append(errs, l.p.Toxics.RemoveToxic(context.Background(), name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("relay %s: cut=%v: %w", l.name, on, err)
	}
	l.cut = on
	return nil
}

// setRefused closes (or reopens) the relay's listener, dropping every
// relayed connection: new connections are refused, as by the kernel of a
// host whose server process is not running.
//
// Why the drill needs this: toxiproxy accepts a connection before it dials
// the upstream and, when that dial is refused, closes the accepted
// connection. Behind the relay a stopped process would therefore look like
// "connected, then closed" instead of "connection refused". Mirroring the
// refusal at the relay keeps what clients, HAProxy and the probe see equal
// to a stopped httpd on a live host.
func (l *link) setRefused(on bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.refused == on {
		return nil
	}
	if on {
		l.p.Stop()
	} else if err := l.p.Start(); err != nil {
		return fmt.Errorf("relay %s: reopen %s: %w", l.name, l.addr, err)
	}
	l.refused = on
	return nil
}

// reset drops every relayed connection and listens again at once: what the
// peers of a rebooted host see (it has forgotten every connection).
func (l *link) reset() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.refused {
		return nil
	}
	l.p.Stop()
	if err := l.p.Start(); err != nil {
		return fmt.Errorf("relay %s: reopen %s: %w", l.name, l.addr, err)
	}
	return nil
}
