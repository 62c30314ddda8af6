package socket

import "encoding/binary"

// WebSocket frame header bits and opcodes (RFC 6455 5.2): what a reader
// checks in a client's frame header and what AppendFrame writes.
const (
	Fin             = 0x80 // first byte: the final fragment
	RSV             = 0x70 // first byte: extension bits (none negotiated)
	Opcode          = 0x0f // first byte: the opcode
	Masked          = 0x80 // second byte: the payload is masked (every client frame)
	Len7            = 0x7f // second byte: the 7-bit length, or 126 or 127
	OpText          = 0x1
	OpClose         = 0x8
	OpPing          = 0x9
	OpPong          = 0xa
	MaxControlBytes = 125   // the longest control frame payload
	ControlHeader   = 2 + 4 // a client control frame's header: two bytes and the masking key
	MaxFrameHeader  = 10    // the longest header of a server frame
)

// AppendFrame appends a final frame with the given opcode and payload, as a
// server sends it: no mask, the shortest length encoding.
func AppendFrame(b []byte, op byte, payload []byte) []byte {
	n := len(payload)
	switch {
	case n < 126:
		b = append(b, Fin|op, byte(n))
	case n <= 0xFFFF:
		b = append(b, Fin|op, 126, byte(n>>8), byte(n))
	default:
		b = append(b, Fin|op, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, payload...)
}
