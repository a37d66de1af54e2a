// Package client is the SDK a desktop application embeds to talk to a
// Registration Server published under several URLs (shared/PROTOCOL.md).
//
// A Client spreads calls round robin over Config.URLs, starting at a random
// index, with a lock-free pick over an immutable snapshot of the healthy
// endpoints. Consecutive transient failures eject an endpoint for a time
// that doubles on repeated ejections (with jitter, decaying after sustained
// health); one trial call then decides. Config.BackupURLs serve only while
// no primary is healthy. When every endpoint is ejected, calls still try
// them (panic mode). Retries go through go-retryablehttp to the next
// endpoint, with full-jitter backoff, Retry-After honoured (capped), a
// per-attempt timeout, the caller's deadline respected and a retry budget.
//
// The reachability state (State: Green, Red) drives a status light: Green
// while the last call reached an instance that answered, Red once a call
// failed on every endpoint. While Red (and the poll loop runs as the recovery
// probe), online-only operations fail at once with ErrOffline and queueable
// ones (SendInvitation, SendComment, Enqueue)
// go to the outbox; the outbox is drained, rate limited, after a random
// delay within Config.RecoverySpread once the server is back. StartPolling
// runs the jittered poll loop, which is also the recovery probe.
//
//	c, err := client.New(client.Config{
//		URLs:     []string{"https://reg1.example.com", "https://reg2.example.com"},
//		Username: "alice",
//		Password: password,
//		DeviceID: deviceID,
//	})
//	if err != nil {
//		return err
//	}
//	defer c.Close()
//	c.Subscribe(func(s client.StateInfo) { light.Set(s.Level == client.Green) })
//	err = c.StartPolling(ctx, func(ctx context.Context, m client.Message) { inbox.Add(m) })
//	...
//	receipt, err := c.SendInvitation(ctx, client.Invitation{SpaceID: "42", Recipient: "bob"})
//
// Errors: ErrOffline, ErrClosed and the other sentinels match with
// errors.Is; *ServerError (an exception reply), *HTTPError and *CallError
// (every attempt failed; it names each endpoint and cause) with errors.As.
// Errors and logs never carry bodies, passwords or sessions.
package client
