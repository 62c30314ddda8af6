// Package client is a Go client for wsnode (docs/protocol.md): it
// connects, authenticates, keeps rooms joined across reconnects, recovers
// what a history room missed, matches requests to their answers, and
// reconnects with backoff according to the close code.
//
//	c, err := client.Dial(ctx, "ws://host:8080/ws", client.Config{
//		TokenProvider: func(ctx context.Context) (string, error) { return mintToken(ctx) },
//	})
//	...
//	defer c.Close()
//	lobby := c.Room("lobby", client.RoomOptions{OnMessage: func(f client.Frame) { ... }})
//	if _, err := lobby.Join(ctx); err != nil { ... }
//	ack, err := lobby.Publish(ctx, map[string]string{"text": "hi"})
//
// # Reconnecting
//
// After a socket ends, the close code decides (see WillReconnect): 1001 (a
// node draining) reconnects at once; 1006 (no close frame: crash, network,
// dead connection, failed dial), 4000-4499 and any code not listed back off
// with full jitter (Backoff: a delay uniform in [0, min(Max,
// Base*Factor^attempt))), the attempt counter starting again once a
// connection stayed up for Config.StableAfter; 1007, 1008, 1009 and
// 4500-4999 stop the client for good, and Err returns a *CloseError with
// the code and reason. 4005 (token expired) backs off like 4000-4499: the
// token provider is called before every connect, so the next connection
// has a fresh token. A connection on which nothing arrived for the node's
// ping_interval_ms plus Config.PingMargin is taken for dead (1006).
//
// On every connection the wanted rooms (joined and not left) are joined
// again in the order they were first joined, with "since" when the room's
// position is known; Room OnJoined sees Recovered, OnMissed is called when
// messages may have been lost, and messages are deduplicated by offset.
//
// # Concurrency
//
// Every method of Client and Room is safe for concurrent use. Each socket
// has exactly one reader goroutine and one writer goroutine; only the
// writer writes to the socket, everything else (requests, the answer to the
// node's application ping, WebSocket pongs and close frames) is queued for
// it. The reader matches answers to requests by id and ref, answers pings,
// tracks room positions and drops duplicates; it never runs user code.
// A third goroutine per client runs the reconnect loop, the only one that
// opens and tears down sockets, and a fourth runs the callbacks (Config
// and RoomOptions) one at a time in arrival order, so that a callback may
// call any method, including ones that wait for the node (Publish, Join).
// Its queue is unbounded: a slow callback delays later callbacks, never
// the reader.
//
// Calls that need the node (Request, Publish, Join, ...) wait for a
// connection if there is none; their context bounds the wait, and without
// a deadline Config.RequestTimeout does. Close ends every goroutine of the
// client before it returns (except when called from a callback: then the
// callback goroutine ends as soon as the callback returns).
package client
