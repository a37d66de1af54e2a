// Package scope provides Scope, the cancelable context of a long-lived
// owner: a Client, its outbox, its poll loop.
//
// A context.WithCancel context that outlives its children keeps a map of
// them, allocated with the first child and never released, and the channel
// of its Done: a few hundred bytes for every owner, which a load generator
// running ten thousand clients pays ten thousand times. Contexts derived
// from a Scope register with it through its AfterFunc method, which the
// context package uses for a parent that is not one of its own types, and
// unregister when they end; the scope itself holds a list head, its Done
// channel, and (for a parent that can end) its registration with the
// parent.
package scope
