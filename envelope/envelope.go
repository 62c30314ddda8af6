package envelope

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"
)

// Kind is the class of a pub/sub channel. Together with a target it names one channel.
type Kind uint8

// Channel kinds. KindAll and KindNode channels are subscribed for the whole life of a Broker;
// KindRoom and KindUser channels are subscribed by interest (see Broker.Subscribe).
const (
	KindAll Kind = iota + 1
	KindNode
	KindRoom
	KindUser
)

// Valid reports whether k is one of the defined kinds.
func (k Kind) Valid() bool { return k >= KindAll && k <= KindUser }

// String returns the channel segment of the kind ("all", "node", "room", "user").
func (k Kind) String() string {
	switch k {
	case KindAll:
		return "all"
	case KindNode:
		return "node"
	case KindRoom:
		return "room"
	case KindUser:
		return "user"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Op is what a receiving node does with an Envelope.
type Op uint8

// Operations.
const (
	OpDeliver    Op = iota + 1 // write Payload to the matching local connections
	OpDisconnect               // close ConnID with Code and Reason
)

func (o Op) valid() bool { return o == OpDeliver || o == OpDisconnect }

// Envelope is one routed message. Payload is the complete client frame (JSON bytes), encoded once
// by the publisher; receivers write it to sockets as is.
//
// Kind and Target are not part of the encoded body: they are carried by the channel name;
// Event and Ephemeral are not sent at all.
type Envelope struct {
	Kind    Kind
	Target  string // room, user or node id; empty for KindAll
	Op      Op
	ConnID  string // OpDeliver/OpDisconnect on KindNode: the target connection
	Exclude string // connection id that must not receive it (echo:false, broadcast exclude)
	Code    int    // OpDisconnect close code
	Reason  string // OpDisconnect close reason
	Payload []byte

	// Not encoded: what the publishing node does besides the PUBLISH.
	//
	// Event, when set, is a client event (cluster.Event as JSON) appended to
	// the event stream in the same round trip as the PUBLISH (by the
	// broker's PublishAsync, which client messages take).
	Event []byte
	// Ephemeral keeps a room message out of the room's history (presence
	// frames): it is only published.
	Ephemeral bool
}

// Wire format of an encoded envelope body (version 1):
//
//	byte    version (1)
//	byte    op
//	uvarint len(ConnID)  + bytes
//	uvarint len(Exclude) + bytes
//	uvarint Code
//	uvarint len(Reason)  + bytes
//	...     Payload, raw, to the end of the message
const (
	encodingVersion = 1

	// MaxFieldLen bounds ConnID, Exclude and Reason. Connection ids are 36-byte UUIDs and a
	// WebSocket close reason is at most 123 bytes, so 255 leaves room without letting a corrupt
	// length prefix allocate much.
	MaxFieldLen = 255
	// MaxCode bounds Code (WebSocket close codes are 16-bit).
	MaxCode = 65535
)

// ErrMalformed is wrapped by every error Decode returns for a bad message body.
var ErrMalformed = errors.New("envelope: malformed")

// Encode returns the wire form of e's body (everything but Kind and Target). The payload is
// copied verbatim; nothing is re-encoded. Fields longer than MaxFieldLen or a Code outside
// 0..MaxCode produce a body that Decode rejects, so callers keep them in range.
func Encode(e Envelope) []byte {
	code := wireCode(e.Code)
	n := 2 + fieldSize(e.ConnID) + fieldSize(e.Exclude) + uvarintSize(code) + fieldSize(e.Reason) + len(e.Payload)
	return appendEncoded(make([]byte, 0, n), e, code)
}

// Append appends the wire form of e's body (what Encode returns) to dst
// and returns the extended buffer, for callers that encode into a reused
// buffer.
func Append(dst []byte, e Envelope) []byte {
	return appendEncoded(dst, e, wireCode(e.Code))
}

// wireCode is the encoded Code: a negative one becomes MaxCode+1, which
// Decode rejects rather than reading a silently wrapped value.
func wireCode(c int) uint64 {
	if c < 0 {
		return MaxCode + 1
	}
	return uint64(c)
}

func appendEncoded(buf []byte, e Envelope, code uint64) []byte {
	buf = append(buf, encodingVersion, byte(e.Op))
	buf = appendField(buf, e.ConnID)
	buf = appendField(buf, e.Exclude)
	buf = binary.AppendUvarint(buf, code)
	buf = appendField(buf, e.Reason)
	return append(buf, e.Payload...)
}

// Decode parses a body produced by Encode that arrived on the channel for (kind, target).
// It returns an error wrapping ErrMalformed, and never panics, on any malformed input.
// The returned Payload aliases msg.
func Decode(kind Kind, target string, msg []byte) (Envelope, error) {
	return decode(kind, target, msg, false)
}

// DecodeString is Decode of a body held in a string, such as the payload of
// a go-redis pub/sub message, without copying it: the returned Payload and
// strings alias msg's bytes. Strings are immutable, so the Payload must
// never be modified (and cannot grow in place: its capacity is its
// length); receivers only write it to sockets, as Envelope documents.
// Against Decode([]byte(msg)), this saves copying the whole message and
// allocating the ConnID, Exclude and Reason strings.
func DecodeString(kind Kind, target string, msg string) (Envelope, error) {
	return decode(kind, target, unsafe.Slice(unsafe.StringData(msg), len(msg)), true)
}

// decode is Decode; with alias, msg's bytes never change (they are a
// string's) and the returned strings alias them.
func decode(kind Kind, target string, msg []byte, alias bool) (Envelope, error) {
	if !kind.Valid() {
		return Envelope{}, fmt.Errorf("%w: unknown kind %d", ErrMalformed, kind)
	}
	if (kind == KindAll) != (target == "") {
		return Envelope{}, fmt.Errorf("%w: target %q does not fit kind %s", ErrMalformed, target, kind)
	}
	if len(msg) < 2 {
		return Envelope{}, fmt.Errorf("%w: %d bytes, need at least 2", ErrMalformed, len(msg))
	}
	if msg[0] != encodingVersion {
		return Envelope{}, fmt.Errorf("%w: unknown version %d", ErrMalformed, msg[0])
	}
	e := Envelope{Kind: kind, Target: target, Op: Op(msg[1])}
	if !e.Op.valid() {
		return Envelope{}, fmt.Errorf("%w: unknown op %d", ErrMalformed, msg[1])
	}
	d := decoder{buf: msg[2:], alias: alias}
	e.ConnID = d.field("conn_id")
	e.Exclude = d.field("exclude")
	code := d.uvarint("code")
	if d.err == nil && code > MaxCode {
		d.err = fmt.Errorf("%w: code %d out of range", ErrMalformed, code)
	}
	e.Code = int(code)
	e.Reason = d.field("reason")
	if d.err != nil {
		return Envelope{}, d.err
	}
	if len(d.buf) > 0 {
		e.Payload = d.buf
	}
	return e, nil
}

// decoder reads fields front to back and remembers the first error.
type decoder struct {
	buf   []byte
	err   error
	alias bool // buf is immutable: field strings may alias it (DecodeString)
}

func (d *decoder) uvarint(name string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf)
	if n <= 0 || n != uvarintSize(v) { // only the canonical (shortest) form, as Encode writes it
		d.err = fmt.Errorf("%w: bad %s varint", ErrMalformed, name)
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

// field reads a length-prefixed string. name is used only in errors.
func (d *decoder) field(name string) string {
	n := d.uvarint(name)
	if d.err != nil {
		return ""
	}
	if n > MaxFieldLen {
		d.err = fmt.Errorf("%w: %s length %d exceeds %d", ErrMalformed, name, n, MaxFieldLen)
		return ""
	}
	if n > uint64(len(d.buf)) {
		d.err = fmt.Errorf("%w: %s truncated (%d of %d bytes)", ErrMalformed, name, len(d.buf), n)
		return ""
	}
	if n == 0 {
		return ""
	}
	var s string
	if d.alias {
		s = unsafe.String(&d.buf[0], int(n))
	} else {
		s = string(d.buf[:n])
	}
	d.buf = d.buf[n:]
	return s
}

func appendField(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

func fieldSize(s string) int { return uvarintSize(uint64(len(s))) + len(s) }

func uvarintSize(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
