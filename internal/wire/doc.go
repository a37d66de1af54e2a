// Package wire is the codec of the Registration Server protocol
// (shared/PROTOCOL.md): the <teamdrive> XML envelope of requests and replies,
// exceptions, and the MD5 body checksum. The client and the simulator share it.
//
// Decoding is strict and bounded: bodies over MaxBodySize, documents that are
// not XML, documents whose root is not <teamdrive> and requests without a
// <command> fail with a *DecodeError that wraps one sentinel error; no input
// makes it panic.
//
//	body, err := wire.EncodeRequest(&wire.Request{
//		Command:     wire.CmdGetSettings,
//		RequestTime: time.Now().Unix(),
//		Session:     session,
//	})
//	...
//	reply, err := wire.DecodeReply(replyBody)
//	if reply.Exception != nil { ... }
package wire
