package node

import "encoding/binary"

// WebSocket frame header bits and opcodes (RFC 6455 5.2) that readControl
// and textFrameSize check and the writer sends (appendFrame).
const (
	frameFin        = 0x80
	frameRSV        = 0x70
	frameOpcode     = 0x0f
	frameMasked     = 0x80
	frameLen7       = 0x7f
	opText          = 0x1
	opClose         = 0x8
	opPing          = 0x9
	opPong          = 0xa
	maxControlBytes = 125
	controlHeader   = 2 + 4 // two header bytes and the client's masking key
)

// maxFrameHeader is the longest header of a server frame (RFC 6455 5.2).
const maxFrameHeader = 10

// appendFrame appends a final frame with the given opcode and payload, as a
// server sends it: no mask, the shortest length encoding.
func appendFrame(b []byte, op byte, payload []byte) []byte {
	n := len(payload)
	switch {
	case n < 126:
		b = append(b, frameFin|op, byte(n))
	case n <= 0xFFFF:
		b = append(b, frameFin|op, 126, byte(n>>8), byte(n))
	default:
		b = append(b, frameFin|op, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, payload...)
}
