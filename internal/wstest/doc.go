// Package wstest is the one WebSocket test harness of the project: a raw
// test client (Conn) for tests that must see or send exactly what is on the
// wire, bad input included, and a node starter (Serve, Cluster) that runs
// in-process nodes on httptest servers. Tests that only need a well-behaved
// client use package client instead.
//
// Conn has one reader goroutine that queues every frame (the node's
// application pings are dropped unless Options.KeepPings) and records the
// close code when the socket ends. Frames are taken either strictly in
// order (Next, Expect) or by search (Find), which leaves the frames it
// passes over for later calls. Writes are serialised by a mutex, so a Conn
// may be written from several goroutines. Only tests import this package.
package wstest
