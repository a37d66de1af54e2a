// Package client is the SDK a desktop application embeds to talk to a
// Registration Server published under several URLs (shared/PROTOCOL.md).
//
// # Failover
//
// A Client spreads calls round robin over Config.URLs, starting at a random
// index, with a lock-free pick over an immutable snapshot of the healthy
// endpoints. Consecutive transient failures eject an endpoint for a time
// that doubles on repeated ejections (with jitter, decaying after sustained
// health). When the ejection ends, the endpoint is probed off the users'
// path (GET /healthz) while another endpoint serves; no user's call is its
// trial. After an outage of every endpoint (Red), the first that answers
// turns the state Green and the others ejected during the outage return
// to rotation on probation, without a probe: they most likely came back
// with it, and one probe per client and endpoint would be a herd of its
// own as a whole fleet recovers; one failure ejects such an endpoint
// again, and the call fails over (a black hole costs one call HedgeDelay).
// Not readmitted: an endpoint that failed in the call, or whose health
// check failed in the Probe, that found the server again; one held by a
// Retry-After; one ejected before the outage began (dead while others
// served), which waits for its probe. Config.BackupURLs serve only while no primary is healthy. When
// every endpoint is ejected, calls still try them, primaries first (panic
// mode). Retries go through go-retryablehttp to the next endpoint, with
// full-jitter backoff, Retry-After honoured (capped at MaxRetryAfter), a
// retry budget, and the caller's deadline respected: each attempt gets a
// share of the time left, and an attempt the deadline ended without a reply
// counts against its endpoint. An attempt without a reply after HedgeDelay
// is hedged to the next healthy endpoint (safe: mutating commands carry a
// requestid the server de-duplicates), so a host that accepts connections
// and never answers does not make users wait while another answers.
//
// # The status light
//
// The reachability state (State: Green, Red; Shutdown after Close) drives a
// status light: Green while the last call reached an instance that answered
// (an exception, or a 429 "slow down", counts as an answer), Red once a
// call failed on every endpoint. A proxy's or captive portal's page is not
// an answer. Subscribe sees every change of Level, Tier, Healthy and
// Problem. Probe checks now, ignoring every backoff (call it when the
// network changed). While Red (and the poll loop runs as the recovery
// probe), online-only operations fail at once with ErrOffline. The probe
// waits half as long as the outage has lasted, at least the poll interval
// (the server's <pollinterval> a floor) and at most PollMaxInterval, then
// jittered like a poll (so up to PollJitter above that cap): the light turns green
// within about half the outage's length, and a fleet's probes come at its
// steady poll rate, not as a burst when the server returns.
//
// # The outbox
//
// Queueable operations (SendInvitation, SendComment, Enqueue) are sent at
// once when the server is reachable and nothing waits, and queued in the
// outbox otherwise: while Red, after a transient failure, and when the
// caller's context ends (or Close comes) while the server may be applying
// the request; the item keeps its ID, the idempotency key, so its replay
// changes nothing. The outbox is drained in order, rate limited, after a
// random delay within Config.RecoverySpread, counted from the last failed
// call, once the server is back, and at
// once when a Client comes up Green with items left from an earlier run.
// Only an item that fails because of itself (an unknown recipient) becomes
// a dead letter; a failure of the account or the configuration (the
// password was changed elsewhere, the salt rotated) pauses the drain and
// shows as StateInfo.Problem, and SetCredentials resumes it. Client.Outbox
// lists, retries and discards.
//
// The default outbox is in memory and loses what it holds when the process
// ends: Close then returns an error naming the count. A desktop application
// passes a durable outbox (the package offline/sqlite) in Config.Outbox.
//
//	c, err := client.New(client.Config{
//		URLs:     []string{"https://reg1.example.com", "https://reg2.example.com"},
//		Username: "alice",
//		Password: password,
//		DeviceID: deviceID, // or call RegisterDevice before StartPolling
//		Outbox:   durableOutbox,
//	})
//	if err != nil {
//		return err
//	}
//	defer c.Close()
//	c.Subscribe(func(s client.StateInfo) { light.Set(s.Level == client.Green, s.Problem) })
//	err = c.StartPolling(ctx, func(ctx context.Context, m client.Message) { inbox.Add(m) })
//	...
//	receipt, err := c.SendInvitation(ctx, client.Invitation{SpaceID: "42", Recipient: "bob"})
//
// # Errors
//
// ErrOffline, ErrClosed, ErrLoginRequired and the other sentinels match
// with errors.Is; *ServerError (an exception reply), *HTTPError,
// *TimeoutError and *CallError (every attempt failed; it names each
// endpoint and cause once) with errors.As. Errors and logs never carry
// bodies, passwords, sessions or checksums.
package client
