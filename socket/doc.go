// Package socket is the byte level of a client's WebSocket connection,
// below gorilla/websocket and above the TCP socket: it frames the server's
// messages itself (RFC 6455; AppendFrame), gathers a batch of frames into
// one socket write (Conn's Cork and Uncork), keeps the close frame that
// gorilla writes after every frame written before it and before none
// written after, and writes a frame with one system call that never waits
// when the socket's buffer takes it (TryFrame). Hijacker gives gorilla a
// read buffer the caller can see.
//
// It knows nothing of Redis, pub/sub, the client protocol or a node's
// queues and goroutines: package node decides what to write and when. A
// Conn is safe for concurrent use; the functions are pure.
package socket
