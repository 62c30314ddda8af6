package cluster

import "errors"

// ErrNotFound is returned when a connection, room or user does not exist.
var ErrNotFound = errors.New("registry: not found")

// ErrUserLimit is returned by Authenticate when the user already holds
// the configured per-user maximum connections cluster-wide.
var ErrUserLimit = errors.New("registry: per-user connection limit reached")

// ErrNodeIDConflict is returned (wrapped) by Heartbeat when the heartbeat key
// held another process's incarnation on two beats in a row: two live
// processes run with the same node id. The beat itself succeeded. Neither
// process removes the other's connections while the conflict lasts.
var ErrNodeIDConflict = errors.New("registry: another live process heartbeats with this node id")
