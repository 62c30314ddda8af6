// Package protocol is wsnode's client wire protocol v1 (docs/protocol.md)
// without the connections it runs on: the vocabulary (frame types, error
// codes, close codes, connection types, guest policies), decoding of client
// requests (Decode, ParseSince), encoding of the frames the node sends
// (MessageFrame, Ack, ErrorFrame, ...) and the permission table (Allowed).
//
// It does what the protocol defines and nothing about how frames travel:
// the WebSocket framing and the sockets belong to package socket, the
// cluster (Redis, pub/sub) and the policies of a node (limits, strikes,
// timeouts) to package node.
// It imports nothing of wsnode.
//
// Everything here is a pure function of its arguments or a constant: no
// I/O, no goroutines, no state. All of it is safe for concurrent use.
// Decoded requests alias the frame they were decoded from; encoded frames
// are new byte slices that the caller may share but must not modify.
package protocol
