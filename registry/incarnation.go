package registry

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
)

// newIncarnation returns a random id for one Registry, that is one process
// of a node: a node that crashes and restarts with the same id gets a new
// one, so its predecessor's connections can be told from its own.
func newIncarnation() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// takeover tracks whether connections recorded under this node id by other
// incarnations may be removed. They may once the other incarnation is known
// to be dead:
//   - the heartbeat key was missing at a beat (the reaper's definition of a
//     dead node), or
//   - a beat found a foreign incarnation in the key and the next beat found
//     this process's own value there: the other process missed a beat.
//
// A foreign incarnation seen on two beats in a row is a live duplicate; until
// it stops, foreign connections are left alone (ErrNodeIDConflict).
type takeover struct {
	mu          sync.Mutex
	suspect     string // foreign incarnation seen on the last beat, if any
	suspectSeen bool
	foreignDead bool // connections of other incarnations may be dropped
}

// observe records what one successful beat found in the heartbeat key
// (present = the key existed; prevInc = the incarnation it held, "" for a
// value written before incarnations existed). It reports whether the node
// must re-assert now (lost) and whether a live duplicate was seen.
func (t *takeover) observe(mine string, present bool, prevInc string) (lost, conflict bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case !present:
		t.suspect, t.suspectSeen, t.foreignDead = "", false, true
		return true, false
	case prevInc == mine:
		if t.suspectSeen { // the other incarnation missed a beat: it is dead
			t.suspect, t.suspectSeen, t.foreignDead = "", false, true
			return true, false
		}
		return false, false
	default:
		conflict = t.suspectSeen || t.foreignDead // seen twice, or after this process owned the key
		t.suspect, t.suspectSeen, t.foreignDead = prevInc, true, false
		return false, conflict
	}
}

// dropForeign reports whether other incarnations' connections may be removed.
func (t *takeover) dropForeign() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.foreignDead
}
