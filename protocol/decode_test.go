package protocol

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
		typ     string
		ref     string
	}{
		{`{"type":"join","room":"a","id":1}`, "", "join", "1"},
		{`{"type":"ping","id":"abc"}`, "", "ping", `"abc"`},
		{`{"type":"join","room":5,"id":2}`, `field "room" has the wrong type`, "", ""},
		{`{"type":"join"`, "not a valid JSON object", "", ""},
		{`[1,2]`, "not a valid JSON object", "", ""},
		{`"str"`, "not a valid JSON object", "", ""},
		{`{}`, `missing "type"`, "", ""},
		{`{"type":"ping","id":{"a":1}}`, `"id" must be`, "", ""},
		{`{"type":"ping","id":"` + strings.Repeat("x", 200) + `"}`, `"id" must be`, "", ""},
		{`{"type":"message","data":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, "not a valid JSON object", "", ""},
	}
	for _, tt := range tests {
		r, err := Decode([]byte(tt.in))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%.40s: err = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || r.Type != tt.typ || string(r.ID) != tt.ref {
			t.Errorf("%.40s: got %+v, %v", tt.in, r, err)
		}
	}
}

func TestDecodeFields(t *testing.T) {
	in := ` { "data" : {"type":"inner","room":"no"} , "type":"mess\u0061ge", "room":"lobby", "id": -12,
		"echo": false, "extra": [1,{"a":"}"}], "to_user": null, "room": "r2", "token": "t\"q" } `
	r, err := Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if r.Type != "message" || r.Room != "r2" || string(r.ID) != "-12" || r.Echo == nil || *r.Echo ||
		r.ToUser != "" || r.Token != `t"q` || string(r.Data) != `{"type":"inner","room":"no"}` {
		t.Fatalf("decoded %+v (data %s)", r, r.Data)
	}
	for _, bad := range []string{`{"type":"ping","echo":1}`, `{"type":["ping"]}`, `{"type":"ping","token":{}}`} {
		if _, err := Decode([]byte(bad)); err == nil || !strings.Contains(err.Error(), "wrong type") {
			t.Errorf("%s: err = %v", bad, err)
		}
	}
	// A wrong field keeps the ref so the error frame can carry it.
	if r, err := Decode([]byte(`{"id":"r9","type":"join","room":7}`)); err == nil || string(r.ID) != `"r9"` {
		t.Fatalf("ref lost: %+v %v", r, err)
	}
}

// The sentinel errors are what callers can test for.
func TestDecodeErrors(t *testing.T) {
	for in, want := range map[string]error{
		`nope`:                         ErrNotObject,
		`{"room":"a"}`:                 ErrMissingType,
		`{"type":"ping","id":[1]}`:     ErrBadRef,
		`{"type":"ping","id":true}`:    ErrBadRef,
		`{"type":"ping","\u0069d":{}}`: ErrBadRef,
	} {
		if _, err := Decode([]byte(in)); !errors.Is(err, want) {
			t.Errorf("%s: err = %v, want %v", in, err, want)
		}
	}
}

// Every request type decodes to the constant itself, and an unknown type
// is no error: the caller answers it.
func TestDecodeTypes(t *testing.T) {
	types := RequestTypes()
	if len(types) != 9 || !slices.Contains(types, TypeHistory) || slices.Contains(types, TypeWelcome) {
		t.Fatalf("RequestTypes() = %v", types)
	}
	for _, typ := range append(types, "subscribe") {
		in, _ := json.Marshal(map[string]string{"type": typ})
		if r, err := Decode(in); err != nil || r.Type != typ {
			t.Errorf("%s: %+v, %v", in, r, err)
		}
	}
	types[0] = "changed"
	if RequestTypes()[0] == "changed" {
		t.Fatal("RequestTypes returns the package's array")
	}
}

func TestParseSince(t *testing.T) {
	p, err := ParseSince(json.RawMessage(`{"offset":41,"epoch":"a1B2"}`))
	if err != nil || p != (Position{Offset: 41, Epoch: "a1B2"}) {
		t.Fatalf("got %+v, %v", p, err)
	}
	for _, bad := range []string{`{"offset":41}`, `{"epoch":"a"}`, `{"offset":-1,"epoch":"a"}`, `{"offset":1.5,"epoch":"a"}`,
		`{"offset":1,"epoch":""}`, `{"offset":1,"epoch":"a-b"}`, `{"offset":1,"epoch":"` + strings.Repeat("e", MaxEpochLen+1) + `"}`,
		`[]`, `"x"`} {
		if _, err := ParseSince(json.RawMessage(bad)); !errors.Is(err, ErrBadSince) {
			t.Errorf("%s: err = %v", bad, err)
		}
	}
}

// FuzzDecode checks that Decode never panics and that what it accepts is
// a request the protocol can answer: a type, and an "id" it may echo.
// Node's FuzzFrame drives whole frames through a node.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"type":"join","room":"lobby","id":"j1"}`, `{"type":"ping","id":-1.5e3}`,
		`{"type":"message","room":"r","data":{"k":[1,2]},"echo":false}`, `{"type":"history","room":"r","limit":5,"since":{"offset":1,"epoch":"e"}}`,
		`{"type":5}`, `{}`, `null`, ``, "{\"type\":\"ping\",\"data\":\"\xff\"}", `{"type":"a","type":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Decode(data)
		if len(r.ID) > 0 && (!json.Valid(r.ID) || len(r.ID) > MaxRefLen) {
			t.Fatalf("%q: ref %q", data, r.ID)
		}
		if err != nil {
			return
		}
		if r.Type == "" || !json.Valid(data) {
			t.Fatalf("%q accepted as %+v", data, r)
		}
		if len(r.Data) > 0 && !json.Valid(r.Data) {
			t.Fatalf("%q: data %q", data, r.Data)
		}
	})
}
