package protocol

// Frame types of wire protocol v1 (the "type" of every frame).
const (
	// Sent by clients (see RequestTypes).
	TypeAuth      = "auth"
	TypeJoin      = "join"
	TypeLeave     = "leave"
	TypeMessage   = "message" // also the routed room message
	TypeDirect    = "direct"  // also the routed direct message
	TypeBroadcast = "broadcast"
	TypeHistory   = "history" // also the node's answer
	TypePing      = "ping"    // also the node's application ping
	TypePong      = "pong"    // also the node's answer to a ping

	// Sent by the node only.
	TypeWelcome       = "welcome"
	TypeAuthenticated = "authenticated"
	TypeJoined        = "joined"
	TypeLeft          = "left"
	TypeAck           = "ack"
	TypeError         = "error"
	TypePresence      = "presence"
)

// Presence events: the "event" of a presence frame.
const (
	PresenceJoin  = "join"
	PresenceLeave = "leave"
)

// Error codes: the "code" of an error frame (docs/protocol.md, "Frames").
const (
	CodeBadRequest           = "bad_request"
	CodeUnknownType          = "unknown_type"
	CodeUnsupportedFrame     = "unsupported_frame" // a binary frame
	CodeUnauthorized         = "unauthorized"
	CodeForbidden            = "forbidden"
	CodeNotMember            = "not_member"
	CodeInvalidName          = "invalid_name"
	CodeRoomLimit            = "room_limit"
	CodeRateLimited          = "rate_limited"
	CodeNotFound             = "not_found"
	CodeAlreadyAuthenticated = "already_authenticated"
	CodeUnavailable          = "unavailable" // Redis unreachable, or a routed message may be lost
	CodeOffline              = "offline"     // a direct to a user with no connection
	CodeAuthFailed           = "auth_failed"
	CodeAuthTimeout          = "auth_timeout"
	CodeConnectionLimit      = "connection_limit"
	CodeTokenExpired         = "token_expired"
	CodeInternal             = "internal" // a frame the node could not encode; never expected
)

// Connection types, as "conn_type" carries them (and the token's conn_type
// claim, but for guest).
const (
	ConnTypeUser        = "user"
	ConnTypeAIAssistant = "ai_assistant"
	ConnTypeSystem      = "system"
	ConnTypeGuest       = "guest" // not authenticated
)

// Guest policies, as the welcome frame's "guests" carries them: what a
// connection that never authenticates may do.
const (
	GuestsOff   = "off"   // nothing but authenticate
	GuestsRead  = "read"  // join, leave, receive
	GuestsWrite = "write" // also send to rooms it is in, and direct messages
)
