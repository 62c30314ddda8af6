package protocol

// Action is something a client asks to do. Its text completes the
// forbidden error's "connection type ... may not ...".
type Action string

// Actions.
const (
	ActJoin      Action = "join rooms"            // join, leave, history
	ActSend      Action = "send messages"         // message, direct
	ActBroadcast Action = "broadcast to everyone" // broadcast
)

// Allowed is the permission table (docs/protocol.md, "Permissions"):
//
//	action            user  ai_assistant  system  guest(read)  guest(write)
//	join/leave        yes   yes           yes     yes          yes
//	message, direct   yes   yes           yes     no           yes
//	broadcast         no    no            yes     no           no
//
// connType is a connection type (ConnTypeUser, ...) and guests a guest
// policy (GuestsOff, ...).
// A connection that is not authenticated is a guest only when the guest
// policy is not "off"; otherwise it may do nothing but authenticate.
func Allowed(connType string, authenticated bool, act Action, guests string) bool {
	if !authenticated {
		switch {
		case guests == GuestsOff:
			return false
		case act == ActJoin:
			return true
		case act == ActSend:
			return guests == GuestsWrite
		default:
			return false
		}
	}
	if act == ActBroadcast {
		return connType == ConnTypeSystem
	}
	return true
}
