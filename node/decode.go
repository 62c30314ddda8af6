package node

import (
	"encoding/json"
	"errors"
	"strconv"
)

var (
	errNotObject   = errors.New("frame is not a valid JSON object")
	errMissingType = errors.New(`missing "type"`)
)

// decodeRequest parses one client frame without reflection: json.Valid
// checks the whole frame (iteratively, with encoding/json's nesting limit),
// then a small scanner walks the top-level object and keeps the raw bytes of
// each known field. This is several times cheaper than json.Unmarshal into a
// struct and keeps the reader's stack shallow. Unknown fields are ignored; a
// repeated field's last value wins. The returned request keeps a valid "id"
// even when another field is wrong, so the error can carry the ref.
func decodeRequest(data []byte) (request, error) {
	var r request
	if !objectShaped(data) || !json.Valid(data) {
		return r, errNotObject
	}
	s := scanner{b: data}
	s.space()
	if !s.take('{') {
		return r, errNotObject
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
		return r, errMissingType
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
func (r *request) set(rawKey, val []byte) error {
	key, err := rawKeyString(rawKey)
	if err != nil {
		return errNotObject
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
			return errBadRef
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
		if t := known(val[1:len(val)-1], frameTypes[:]); t != "" {
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

var (
	requestKeys = [...]string{"type", "token", "room", "to_user", "to_conn", "id", "data", "echo", "since", "limit"}
	frameTypes  = [...]string{typeMessage, typeDirect, typePing, typePong, typeJoin, typeLeave, typeAuth, typeBroadcast, typeHistory}
)

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
		return "", errNotObject
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
