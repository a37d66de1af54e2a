// Package regsim is a simulated Registration Server cluster that speaks
// shared/PROTOCOL.md, fails in the ways the seed documents describe, and
// counts what it sees. Go tests use it the way they use net/http/httptest;
// cmd/regsim serves it on loopback ports for manual and load runs.
//
// # Cluster and store
//
// A Cluster is N instances sharing one store (as Registration Servers share
// one MySQL database). NewCluster builds one without sockets: use
// Instance(i) as an http.Handler, or Transport() as an in-memory client.
// Start serves every instance on its own loopback listener (consecutive
// ports when StartOptions.Addr names one) and a control endpoint on its own
// listener. Config.Users seeds user0 … user(N-1) with Config.Password
// (DefaultPassword unless set).
//
// # Server rules
//
//   - Every command of PROTOCOL.md. A mutating command (registeruser,
//     registerdevice, sendinvitation, sendcomment, changepassword,
//     setkeyrepository) needs a requestid; a requestid the server has
//     applied (per acting user; per username for registeruser) is answered
//     with the first reply, byte for byte, and changes nothing
//     (Counters.DuplicateRequestIDs). Failed commands (exceptions) are not
//     recorded, so a retry is evaluated afresh. Records live as long as the
//     storage period.
//   - Messages are stored per recipient user and delivered by getmessages,
//     oldest first, to every device of the user (devices registered later
//     included) until that device acknowledges them with ackmessages or the
//     storage period ends. getmessages answers <pollinterval> (seconds) and
//     <messages>; <max> is optional (absent or 0: DefaultMaxMessages), and
//     a reply never exceeds 1 MiB. A comment becomes one message per
//     recipient, its payload being the comment text (the message format has
//     no file id). ackmessages answers <acked>: how many listed ids are
//     stored messages of the user, now acknowledged by the device.
//   - Sessions from loginuser live Config.SessionTTL after login; an expired
//     or unknown session is answered with -30400.
//   - sendpassword only counts (Counters.TemporaryPasswordsSent): it mails
//     nothing and keeps the password.
//   - With Config.Salt set, a missing or wrong ?checksum= is -30201.
//
// # Bad requests
//
// A body over 1 MiB gets HTTP 413. A body that is not XML or whose root is
// not <teamdrive> gets HTTP 400 with a text body: it is not a request of
// the protocol at all. A <teamdrive> document without <command>, an unknown
// command and a missing field get exception -30200, as PROTOCOL.md says.
// A method other than POST on the API path gets 405, an unknown path 404.
// No input makes an instance panic (see FuzzHandler).
//
// # Faults
//
// Instance.SetFault switches an instance's faults (see Fault): Down
// (listener and open connections closed: connection refused), Unavailable
// (503, optional Retry-After), Hang (no answer until cleared or the client
// gives up), Latency and Jitter, ErrorRate (500 for a share of requests),
// Reset (connection closed mid-reply, after the command was applied).
// Cluster.SetStoreFault is dbdown: exception -12507 with secondary code
// 2003 on every command, /healthz 503. Clearing a fault restores service at
// once: waiting requests are released, a downed instance listens again on
// the same port.
//
// # Transport
//
// Cluster.Transport is an http.RoundTripper that routes by URL host
// ("instance0.regsim.test", …, or a started instance's host:port) to the
// instance's handler in the calling goroutine, with no sockets. Down is a
// dial error wrapping syscall.ECONNREFUSED, Reset a body that fails half way
// with syscall.ECONNRESET, Hang blocks until the fault clears or the
// request's context ends. Because it uses no sockets and NewCluster starts
// no goroutine, a cluster built inside a testing/synctest bubble works there
// with fake time (build it inside the bubble: its channels must belong to
// the bubble).
//
// # Control endpoint
//
// Start serves a JSON control endpoint on its own port (never on an API
// port):
//
//	GET  /                 the list of endpoints
//	GET  /counters         Counters
//	GET  /faults           ControlState: each instance's faults, dbdown, poll interval
//	POST /fault?instance=1&mode=hang              set one fault (instance=all: every instance)
//	POST /fault?instance=1&mode=hang&clear=true   clear that one fault
//	POST /fault?instance=1&mode=clear             clear all faults of the instance
//	POST /fault?instance=0&mode=unavailable&retry-after=5s
//	POST /fault?instance=0&mode=latency&latency=100ms&jitter=50ms
//	POST /fault?instance=0&mode=error-rate&rate=0.25
//	POST /store?mode=dbdown                       (mode=clear clears it)
//	POST /fault?mode=dbdown                       the same (&clear=true clears it)
//	POST /pollinterval?seconds=60
//
// Durations are Go durations or plain numbers (seconds for retry-after and
// seconds, milliseconds for latency and jitter); mode=latency needs
// latency=. A POST answers the new ControlState, or 400 with
// {"error": "..."} naming the parameter at fault. ControlEndpoints is the
// list GET / serves.
//
// # Example
//
//	c, err := regsim.Start(regsim.Config{Instances: 3, Users: 10}, regsim.StartOptions{})
//	if err != nil { ... }
//	defer c.Close()
//	client := newSDKClient(c.URLs())
//	c.Instance(0).SetFault(regsim.Fault{Down: true})
//	... the client fails over to instances 1 and 2 ...
//	c.Instance(0).SetFault(regsim.Fault{})
//	fmt.Println(c.Counters().RequestsByInstance)
package regsim
