package node

import "errors"

// Errors returned by the Node's methods (the membership operations, the
// sends, the queries); callers branch on them with errors.Is. Errors from
// the cluster services come wrapped in ErrUnavailable, invalid names and
// ids in ErrInvalidInput.
var (
	ErrClosed       = errors.New("node: connection closed")
	ErrNotLocal     = errors.New("node: connection is not held by this node")
	ErrNotFound     = errors.New("node: not found")
	ErrRoomLimit    = errors.New("node: room limit reached")
	ErrNotMember    = errors.New("node: not a member of the room")
	ErrAuthed       = errors.New("node: already authenticated")
	ErrUserLimit    = errors.New("node: per-user connection limit reached")
	ErrUnavailable  = errors.New("node: cluster state unavailable")
	ErrInvalidInput = errors.New("node: invalid input")
)
