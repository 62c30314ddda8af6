package protocol

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
)

// MaxRefLen bounds the client-chosen request id echoed back as "ref".
const MaxRefLen = 128

// Request is any client frame. Unknown fields are ignored.
type Request struct {
	Type   string          `json:"type"`
	ID     json.RawMessage `json:"id,omitempty"`
	Token  string          `json:"token,omitempty"`
	Room   string          `json:"room,omitempty"`
	Data   json.RawMessage `json:"data,omitempty"`
	Echo   *bool           `json:"echo,omitempty"`
	ToUser string          `json:"to_user,omitempty"`
	ToConn string          `json:"to_conn,omitempty"`
	// Since (join, history): the last position the client saw; see
	// ParseSince.
	Since json.RawMessage `json:"since,omitempty"`
	// Limit (history): how many messages; clipped to the history size.
	Limit int `json:"limit,omitempty"`
}

// Decoding errors. Their text is what the client reads in the bad_request
// error frame. A field of the wrong type gets an error of its own, naming
// the field.
var (
	ErrNotObject   = errors.New("frame is not a valid JSON object")
	ErrMissingType = errors.New(`missing "type"`)
	// ErrBadRef reports an "id" that is not a short string or number.
	ErrBadRef = errors.New(`"id" must be a string or number of at most 128 bytes`)
)

func validRef(id json.RawMessage) bool {
	if len(id) > MaxRefLen {
		return false
	}
	c := id[0]
	return c == '"' || c == '-' || (c >= '0' && c <= '9')
}

// Decode parses one client frame without reflection: json.Valid checks the
// whole frame (iteratively, with encoding/json's nesting limit), then a
// small scanner walks the top-level object and keeps the raw bytes of each
// known field. This is several times cheaper than json.Unmarshal into a
// struct and keeps the reader's stack shallow. Unknown fields are ignored; a
// repeated field's last value wins. The returned Request keeps a valid "id"
// even when another field is wrong, so the error can carry the ref. A type
// the protocol does not know is no error (the caller answers unknown_type).
// The Request's raw fields (ID, Data, Since) alias data.
func Decode(data []byte) (Request, error) {
	var r Request
	if !objectShaped(data) || !json.Valid(data) {
		return r, ErrNotObject
	}
	s := scanner{b: data}
	s.space()
	if !s.take('{') {
		return r, ErrNotObject
	}
	var ferr error
	for s.space(); !s.take('}'); s.space() {
		key := s.value()
		s.space()
		s.take(':')
		s.space()
		val := s.value()
		if err := r.set(key, val); err != nil && ferr == nil {
			ferr = err
		}
		s.space()
		s.take(',')
	}
	switch {
	case ferr != nil:
		return r, ferr
	case r.Type == "":
		return r, ErrMissingType
	}
	return r, nil
}

// objectShaped reports whether data, less surrounding whitespace, starts
// with '{' and ends with '}': a check of a few bytes that turns most garbage
// away before json.Valid reads all of it (a frame failing it would fail
// json.Valid or the scanner's '{' just the same).
func objectShaped(data []byte) bool {
	i, j := 0, len(data)-1
	for i <= j && isSpace(data[i]) {
		i++
	}
	for j > i && isSpace(data[j]) {
		j--
	}
	return j > i && data[i] == '{' && data[j] == '}'
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// Shared values for "echo", so decoding it allocates nothing.
var echoTrue, echoFalse = true, false

// set stores one top-level field; key and val are raw JSON.
func (r *Request) set(rawKey, val []byte) error {
	key, err := rawKeyString(rawKey)
	if err != nil {
		return ErrNotObject
	}
	var dst *string
	switch key {
	case "type":
		dst = &r.Type
	case "token":
		dst = &r.Token
	case "room":
		dst = &r.Room
	case "to_user":
		dst = &r.ToUser
	case "to_conn":
		dst = &r.ToConn
	case "id":
		if string(val) == "null" {
			r.ID = nil
			return nil
		}
		if !validRef(val) {
			r.ID = nil
			return ErrBadRef
		}
		r.ID = json.RawMessage(val)
		return nil
	case "data":
		r.Data = json.RawMessage(val)
		return nil
	case "since":
		r.Since = json.RawMessage(val) // parsed by the handlers that take it
		return nil
	case "limit":
		if string(val) == "null" {
			r.Limit = 0
			return nil
		}
		n, err := strconv.Atoi(string(val))
		if err != nil {
			return wrongType(key)
		}
		r.Limit = n
		return nil
	case "echo":
		switch string(val) {
		case "true":
			r.Echo = &echoTrue
		case "false":
			r.Echo = &echoFalse
		case "null":
			r.Echo = nil
		default:
			return wrongType(key)
		}
		return nil
	default:
		return nil
	}
	if string(val) == "null" {
		*dst = ""
		return nil
	}
	if dst == &r.Type && len(val) >= 2 && val[0] == '"' {
		if t := known(val[1:len(val)-1], requestTypes[:]); t != "" {
			*dst = t
			return nil
		}
	}
	str, err := jsonString(val)
	if err != nil {
		return wrongType(key)
	}
	*dst = str
	return nil
}

// rawKeyString returns a key for the switch in set; a key without escapes
// is converted in place, which the compiler does without allocating.
func rawKeyString(raw []byte) (string, error) {
	if len(raw) >= 2 && raw[0] == '"' && !hasEscape(raw) {
		return known(raw[1:len(raw)-1], requestKeys[:]), nil // "" for unknown keys: ignored
	}
	return jsonString(raw)
}

func hasEscape(raw []byte) bool {
	for _, c := range raw {
		if c == '\\' {
			return true
		}
	}
	return false
}

// requestKeys are the fields of a Request, and requestTypes the frame types
// a client sends, most frequent first: known scans them in order.
var (
	requestKeys  = [...]string{"type", "token", "room", "to_user", "to_conn", "id", "data", "echo", "since", "limit"}
	requestTypes = [...]string{TypeMessage, TypeDirect, TypePing, TypePong, TypeJoin, TypeLeave, TypeAuth, TypeBroadcast, TypeHistory}
)

// RequestTypes returns the frame types a client may send (a new slice).
func RequestTypes() []string { return slices.Clone(requestTypes[:]) }

// known returns the element of list equal to b, or "". Comparing
// string(b) does not allocate, so known keys and types cost nothing.
func known(b []byte, list []string) string {
	for _, k := range list {
		if string(b) == k {
			return k
		}
	}
	return ""
}

func wrongType(field string) error {
	return errors.New("field " + strconv.Quote(field) + " has the wrong type")
}

// jsonString decodes a JSON string value (already validated).
func jsonString(raw []byte) (string, error) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", ErrNotObject
	}
	inner := raw[1 : len(raw)-1]
	for _, c := range inner {
		if c == '\\' {
			var s string
			err := json.Unmarshal(raw, &s)
			return s, err
		}
	}
	return string(inner), nil
}

// scanner walks JSON that json.Valid has accepted, so it only has to find
// where each value ends.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) take(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	if s.i >= len(s.b) {
		return true // end of input: stop loops on valid JSON
	}
	return false
}

// value returns the raw bytes of the value starting at s.i.
func (s *scanner) value() []byte {
	start := s.i
	depth := 0
	for s.i < len(s.b) {
		switch c := s.b[s.i]; c {
		case '"':
			s.skipString()
			if depth == 0 {
				return s.b[start:s.i]
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return s.b[start:s.i]
			}
			depth--
			if depth == 0 {
				s.i++
				return s.b[start:s.i]
			}
		case ',', ':', ' ', '\t', '\r', '\n':
			if depth == 0 {
				return s.b[start:s.i]
			}
		}
		s.i++
	}
	return s.b[start:s.i]
}

// skipString moves past the string starting at s.i.
func (s *scanner) skipString() {
	for s.i++; s.i < len(s.b); s.i++ {
		switch s.b[s.i] {
		case '\\':
			s.i++
		case '"':
			s.i++
			return
		}
	}
}
