// Package h1 is a lean HTTP/1.1 client transport: an http.RoundTripper
// that writes the request and reads the reply on the caller's goroutine.
//
// net/http's Transport runs two goroutines per connection (a reader and a
// writer) and hands every request and reply between them and the caller;
// an idle connection keeps both goroutines and their 4 KiB buffers. That is
// the right design for an application, which has a few connections and
// wants HTTP/2, proxies and compression. It is the wrong one for a load
// generator that simulates thousands of desktops, each with a connection of
// its own that is idle most of the time: there the hand-offs are most of
// the CPU per request and the goroutines and buffers most of the memory.
//
// Transport instead:
//
//   - writes the request (headers and body) with one Write from a pooled
//     buffer and parses the reply from a pooled bufio.Reader, both on the
//     goroutine that called RoundTrip or reads the body;
//   - starts no goroutine per connection and none while a connection is
//     idle; an idle connection holds no buffer, only its socket;
//   - keeps connections alive, honours Connection: close from either side
//     and HTTP/1.0's rules, and checks, without blocking, that an idle
//     connection was not closed by the server before reusing it;
//   - reads Content-Length, chunked (trailers go to Response.Trailer) and
//     close-delimited bodies, and refuses a reply body over MaxReplyBytes
//     (1 MiB by default) with ErrReplyTooLarge;
//   - takes deadlines and cancellation from the request's context with
//     SetDeadline and context.AfterFunc (no timer goroutine per call), and
//     then returns context.Cause of the context, as net/http does;
//   - speaks TLS with crypto/tls, verifying the server's certificate unless
//     the TLSClientConfig says otherwise.
//
// It does not do HTTP/2, proxies, Expect: 100-continue, transparent gzip or
// redirects (http.Client does those it needs). Use net/http for anything
// but a fleet of simulated clients.
package h1
