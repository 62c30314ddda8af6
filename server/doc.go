// Package server is wsnode's entry point for Go programs: one node of a
// wsnode cluster, wired to Redis. Run N of them (each its own process or
// inside an existing service) on one Redis and every node sees the whole
// cluster: which user holds which connections, who is in which room, exact
// stats, and messages to any connection, user or room wherever its socket
// lives. cmd/wsnode is this package behind flags.
//
// # Using it
//
//	srv, err := server.New(rdb, server.Config{Node: node.Config{NodeID: "node-1", Verifier: v}})
//	go srv.Run(ctx)                          // background loops; returns after Shutdown
//	http.Handle("/ws", srv.SocketHandler())  // or srv.ClientHandler() for /ws plus a demo page
//	go http.ListenAndServe(":9090", srv.AdminHandler())
//	...
//	srv.PublishRoom(ctx, "lobby", json.RawMessage(`{"text":"hi"}`), "")
//	srv.Shutdown(ctx)                        // 1001 to every socket, entries removed from Redis
//
// The zero value of every Config field but Node.NodeID means a documented
// default.
//
// # Authentication
//
// Clients authenticate with an HS256 JWT (Node.Verifier), in their first
// frame or as a bearer header on the upgrade. An application that has its
// own authentication needs no tokens: it checks the upgrade request itself
// and attaches the user with WithIdentity before handing the request to
// SocketHandler (see the example). Node.Verifier may then be nil.
//
// # The cluster-wide API
//
// SendToConn, SendToUser, PublishRoom, Broadcast and Disconnect reach a
// socket on any node; Stats, Rooms, Room, User, Conn, Nodes and History read
// the cluster state from Redis. They return this package's types (aliases
// of the records the cluster stores) and errors that wrap ErrNotFound,
// ErrInvalidInput or ErrUnavailable.
//
// # Concurrency
//
// Every method is safe for concurrent use. Run is called once; Shutdown is
// idempotent and safe to call from any goroutine, before, during or after
// Run.
package server
