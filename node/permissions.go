package node

// action is something a client asks to do.
type action string

const (
	actJoin      action = "join rooms"
	actSend      action = "send messages"
	actBroadcast action = "broadcast to everyone"
)

// allowed is the permission table (docs/protocol.md, "Permissions"):
//
//	action            user  ai_assistant  system  guest(read)  guest(write)
//	join/leave        yes   yes           yes     yes          yes
//	message, direct   yes   yes           yes     no           yes
//	broadcast         no    no            yes     no           no
//
// A connection that is not authenticated is a guest only when the guest
// policy is not "off"; otherwise it may do nothing but authenticate.
func allowed(typ ConnType, state State, act action, guests GuestPolicy) bool {
	if state != StateAuthenticated {
		switch {
		case guests == GuestsOff:
			return false
		case act == actJoin:
			return true
		case act == actSend:
			return guests == GuestsWrite
		default:
			return false
		}
	}
	if act == actBroadcast {
		return typ == TypeSystem
	}
	return true
}
