package offline

// Manager is an Outbox whose events an application can follow. Memory and
// SQLite implement it.
type Manager interface {
	Outbox
	// Subscribe returns a subscription to the outbox's events.
	Subscribe(buffer int) *Subscription
}
