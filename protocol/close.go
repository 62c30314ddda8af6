package protocol

import (
	"strings"
	"unicode/utf8"
)

// Close codes. 4000-4499 mean "reconnect with backoff", 4500-4999 mean
// "do not reconnect" (see docs/protocol.md, "Close codes"). A refusal that
// can clear by itself always uses a 4000-4499 code.
const (
	CloseNormal          = 1000
	CloseGoingAway       = 1001 // node draining
	CloseInvalidUTF8     = 1007
	ClosePolicy          = 1008 // too many malformed frames in a row
	CloseTooBig          = 1009
	CloseInactive        = 4000
	CloseSlowConsumer    = 4001
	CloseRateLimited     = 4002
	CloseNodeUnavailable = 4003
	ClosePingTimeout     = 4004
	CloseTokenExpired    = 4005
	CloseKicked          = 4006
	// CloseUserLimit: the per-user connection limit is reached. It clears
	// by itself when the user's other connections close (or their node is
	// found dead), so clients retry with backoff. It was 4502 ("do not
	// reconnect") before, which locked out users of a crashed node.
	CloseUserLimit   = 4007
	CloseAuthFailed  = 4500
	CloseAuthTimeout = 4501
)

// SendableCloseCode reports whether a close frame may carry code (RFC 6455,
// section 7.4): the defined codes a server sends, and 3000-4999.
func SendableCloseCode(code int) bool {
	switch {
	case code >= 3000 && code <= 4999:
		return true
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1011:
		return true
	}
	return false
}

// MaxCloseReasonBytes is the longest reason a close frame carries: its
// payload is at most 125 bytes, 2 of them the code (RFC 6455, 5.5).
const MaxCloseReasonBytes = 123

// FitCloseReason makes reason fit a close frame, whatever it holds: invalid
// UTF-8 is dropped, and the rest is cut to MaxCloseReasonBytes at a
// character boundary. A WebSocket library would refuse an over-long control
// frame (the peer would see 1006), and the peer must reject invalid UTF-8.
func FitCloseReason(reason string) string {
	reason = strings.ToValidUTF8(reason, "")
	if len(reason) <= MaxCloseReasonBytes {
		return reason
	}
	cut := MaxCloseReasonBytes
	for cut > 0 && !utf8.RuneStart(reason[cut]) {
		cut--
	}
	return reason[:cut]
}
