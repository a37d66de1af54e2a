//go:build !unix

package h1

// prober is empty where the liveness check is not implemented.
type prober struct{}

// alive reports true: a reused connection that the server closed fails on
// its first read, and RoundTrip retries the request when it may.
func (c *conn) alive() bool { return true }
