package node

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDecodeRequest(t *testing.T) {
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
		r, err := decodeRequest([]byte(tt.in))
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

func TestEncodeMessageKeepsDataVerbatim(t *testing.T) {
	at := time.UnixMilli(1700000000000)
	b, err := encodeMessage(typeMessage, "lobby", From{User: "alice", ConnID: "c1", Type: "user"}, json.RawMessage(`{"k":[1,2]}`), "m1", at)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"message","room":"lobby","from":{"user":"alice","conn_id":"c1","conn_type":"user"},"data":{"k":[1,2]},"msg_id":"m1","ts":1700000000000}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	b, err = encodeMessage(typeDirect, "", systemFrom, nil, "m2", at)
	if err != nil || !strings.Contains(string(b), `"data":null`) || !strings.Contains(string(b), `"system":true`) {
		t.Fatalf("empty data: %s %v", b, err)
	}
}

func TestPermissions(t *testing.T) {
	type row struct {
		typ    ConnType
		state  State
		guests GuestPolicy
		join   bool
		send   bool
		bcast  bool
	}
	rows := []row{
		{TypeUser, StateAuthenticated, GuestsOff, true, true, false},
		{TypeAIAssistant, StateAuthenticated, GuestsOff, true, true, false},
		{TypeSystem, StateAuthenticated, GuestsOff, true, true, true},
		{TypeGuest, StateConnected, GuestsOff, false, false, false},
		{TypeGuest, StateConnected, GuestsRead, true, false, false},
		{TypeGuest, StateConnected, GuestsWrite, true, true, false},
	}
	for _, r := range rows {
		got := [3]bool{allowed(r.typ, r.state, actJoin, r.guests), allowed(r.typ, r.state, actSend, r.guests), allowed(r.typ, r.state, actBroadcast, r.guests)}
		if got != [3]bool{r.join, r.send, r.bcast} {
			t.Errorf("%s/%s/%s: got %v", r.typ, r.state, r.guests, got)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	var c Config
	c.setDefaults()
	if c.MaxMessageSize != 64<<10 || c.SendQueueSize != 256 || c.MaxRoomsPerConn != 128 || c.AuthTimeout != 10*time.Second ||
		c.FlushInterval != time.Second || c.MessageBurst != 200 || c.Guests != GuestsOff {
		t.Fatalf("defaults: %+v", c)
	}
	c = Config{} // a FlushInterval above MaxFlushInterval is an error now: config_test.go
	c.setDefaults()
	if c.FlushInterval != time.Second {
		t.Fatalf("flush interval not capped: %v", c.FlushInterval)
	}
	if err := c.validate(); err == nil {
		t.Fatal("config without NodeID validated")
	}
}

func TestIndexLimits(t *testing.T) {
	x := newIndex()
	if ok, _ := x.reserve("1.1.1.1", 2, 1); !ok {
		t.Fatal("first reserve refused")
	}
	if ok, perIP := x.reserve("1.1.1.1", 2, 1); ok || !perIP {
		t.Fatal("per-IP limit not enforced")
	}
	if ok, _ := x.reserve("2.2.2.2", 2, 1); !ok {
		t.Fatal("second IP refused")
	}
	if ok, perIP := x.reserve("3.3.3.3", 2, 1); ok || perIP {
		t.Fatal("node limit not enforced")
	}
	x.release("1.1.1.1")
	if ok, _ := x.reserve("3.3.3.3", 2, -1); !ok {
		t.Fatal("released slot not reusable")
	}
}

// outMessage is a routed frame: message (room), direct or broadcast.
type outMessage struct {
	Type  string          `json:"type"`
	Room  string          `json:"room,omitempty"`
	From  From            `json:"from"`
	Data  json.RawMessage `json:"data"`
	MsgID string          `json:"msg_id"`
	TS    int64           `json:"ts"`
}

func TestEncodeMessageMatchesEncodingJSON(t *testing.T) {
	at := time.UnixMilli(1700000000123)
	cases := []struct {
		typ, room string
		from      From
		data      string
	}{
		{typeMessage, "lobby", From{User: "a@b.c", ConnID: "c1", Type: "user"}, `{"x":[1,"<&>"],"y":null}`},
		{typeDirect, "", From{System: true}, `"text"`},
		{typeBroadcast, "", From{User: "ops", ConnID: "c2", Type: "system"}, `-1.5e3`},
		{typeMessage, "r", From{User: "quote\"back\\slash\u00e9"}, `[]`},
	}
	for _, c := range cases {
		got, err := encodeMessage(c.typ, c.room, c.from, json.RawMessage(c.data), "m-1", at)
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(outMessage{Type: c.typ, Room: c.room, From: c.from, Data: json.RawMessage(c.data), MsgID: "m-1", TS: at.UnixMilli()})
		if err != nil {
			t.Fatal(err)
		}
		var g, w any
		if json.Unmarshal(got, &g) != nil || json.Unmarshal(want, &w) != nil || !reflect.DeepEqual(g, w) {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}
	if _, err := encodeMessage(typeDirect, "", systemFrom, json.RawMessage(`{"a":`), "m", at); err == nil {
		t.Fatal("invalid data accepted")
	}
}

func TestDecodeRequestFields(t *testing.T) {
	in := ` { "data" : {"type":"inner","room":"no"} , "type":"mess\u0061ge", "room":"lobby", "id": -12,
		"echo": false, "extra": [1,{"a":"}"}], "to_user": null, "room": "r2", "token": "t\"q" } `
	r, err := decodeRequest([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if r.Type != "message" || r.Room != "r2" || string(r.ID) != "-12" || r.Echo == nil || *r.Echo ||
		r.ToUser != "" || r.Token != `t"q` || string(r.Data) != `{"type":"inner","room":"no"}` {
		t.Fatalf("decoded %+v (data %s)", r, r.Data)
	}
	for _, bad := range []string{`{"type":"ping","echo":1}`, `{"type":["ping"]}`, `{"type":"ping","token":{}}`} {
		if _, err := decodeRequest([]byte(bad)); err == nil || !strings.Contains(err.Error(), "wrong type") {
			t.Errorf("%s: err = %v", bad, err)
		}
	}
	// A wrong field keeps the ref so the error frame can carry it.
	if r, err := decodeRequest([]byte(`{"id":"r9","type":"join","room":7}`)); err == nil || string(r.ID) != `"r9"` {
		t.Fatalf("ref lost: %+v %v", r, err)
	}
}

func TestSendableCloseCode(t *testing.T) {
	for code, want := range map[int]bool{
		999: false, 1000: true, 1001: true, 1004: false, 1005: false, 1006: false, 1008: true,
		1011: true, 1012: false, 1015: false, 2999: false, 3000: true, 4006: true, 4999: true, 5000: false,
	} {
		if got := sendableCloseCode(code); got != want {
			t.Errorf("sendableCloseCode(%d) = %v", code, got)
		}
	}
}
