package protocol

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestMessageFrameKeepsDataVerbatim(t *testing.T) {
	at := time.UnixMilli(1700000000000)
	b, err := MessageFrame(TypeMessage, "lobby", From{User: "alice", ConnID: "c1", Type: "user"}, json.RawMessage(`{"k":[1,2]}`), "m1", at)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"message","room":"lobby","from":{"user":"alice","conn_id":"c1","conn_type":"user"},"data":{"k":[1,2]},"msg_id":"m1","ts":1700000000000}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	b, err = MessageFrame(TypeDirect, "", From{System: true}, nil, "m2", at)
	if err != nil || !strings.Contains(string(b), `"data":null`) || !strings.Contains(string(b), `"system":true`) {
		t.Fatalf("empty data: %s %v", b, err)
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

func TestMessageFrameMatchesEncodingJSON(t *testing.T) {
	at := time.UnixMilli(1700000000123)
	cases := []struct {
		typ, room string
		from      From
		data      string
	}{
		{TypeMessage, "lobby", From{User: "a@b.c", ConnID: "c1", Type: "user"}, `{"x":[1,"<&>"],"y":null}`},
		{TypeDirect, "", From{System: true}, `"text"`},
		{TypeBroadcast, "", From{User: "ops", ConnID: "c2", Type: "system"}, `-1.5e3`},
		{TypeMessage, "r", From{User: "quote\"back\\slash\u00e9"}, `[]`},
	}
	for _, c := range cases {
		got, err := MessageFrame(c.typ, c.room, c.from, json.RawMessage(c.data), "m-1", at)
		if app, aerr := AppendMessageFrame([]byte("head"), c.typ, c.room, c.from, json.RawMessage(c.data), "m-1", at); aerr != nil || string(app) != "head"+string(got) {
			t.Fatalf("AppendMessageFrame = %s, %v; want head and %s", app, aerr, got)
		}
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
	if _, err := MessageFrame(TypeDirect, "", From{System: true}, json.RawMessage(`{"a":`), "m", at); err != ErrInvalidData {
		t.Fatalf("invalid data: err = %v", err)
	}
}

// Ack.AppendTo produces what encoding/json does for the same fields, "ref"
// being copied as the client sent it.
func TestAckEncoding(t *testing.T) {
	for _, ref := range []string{`"a"`, `12`, `-1.5e3`, `"\u00e9\"x"`} {
		a := Ack{Ref: json.RawMessage(ref), MsgID: "0b7e3f1c-2d4a-4c4e-9a51-3f0c2a1b9d77"}
		want, err := json.Marshal(struct {
			Type  string          `json:"type"`
			Ref   json.RawMessage `json:"ref"`
			MsgID string          `json:"msg_id"`
		}{TypeAck, a.Ref, a.MsgID})
		if err != nil {
			t.Fatal(err)
		}
		if got := a.AppendTo(nil); string(got) != string(want) {
			t.Errorf("ref %s: got %s, want %s", ref, got, want)
		}
		if got := a.Frame(); string(got) != string(want) {
			t.Errorf("ref %s: Frame() = %s, want %s", ref, got, want)
		}
	}
}

// In a history room the ack carries the message's position.
func TestAckEncodingWithOffset(t *testing.T) {
	a := Ack{Ref: json.RawMessage(`7`), MsgID: "m", Offset: 42, Epoch: "0123456789abcdef"}
	want, _ := json.Marshal(struct {
		Type   string          `json:"type"`
		Ref    json.RawMessage `json:"ref"`
		MsgID  string          `json:"msg_id"`
		Offset uint64          `json:"offset"`
		Epoch  string          `json:"epoch"`
	}{TypeAck, a.Ref, a.MsgID, a.Offset, a.Epoch})
	if got := a.Frame(); string(got) != string(want) {
		t.Fatalf("got %s, want %s", got, want)
	}
}

// The frames built through encoding/json, byte for byte as the node sent
// them before they moved here (field order included).
func TestFrames(t *testing.T) {
	at := time.UnixMilli(1700000000123)
	off, yes, no := uint64(0), true, false
	for _, tc := range []struct {
		got  []byte
		want string
	}{
		{Welcome{ConnID: "c", NodeID: "n", PingIntervalMS: 25000, AuthTimeoutMS: 10000, Guests: GuestsOff}.Frame(),
			`{"type":"welcome","conn_id":"c","node_id":"n","ping_interval_ms":25000,"auth_timeout_ms":10000,"guests":"off"}`},
		{ReplyFrame(TypeJoined, json.RawMessage(`"j"`), "lobby"), `{"type":"joined","ref":"j","room":"lobby"}`},
		{ReplyFrame(TypeLeft, nil, "lobby"), `{"type":"left","room":"lobby"}`},
		{AuthenticatedFrame(json.RawMessage(`1`), "alice", ConnTypeUser), `{"type":"authenticated","ref":1,"user":"alice","conn_type":"user"}`},
		{PongFrame(json.RawMessage(`"p"`), at), `{"type":"pong","ref":"p","ts":1700000000123}`},
		{PingFrame(at), `{"type":"ping","ts":1700000000123}`},
		{Joined{Ref: json.RawMessage(`2`), Room: "r", Offset: &off, Epoch: "e1", Recovered: &yes}.Frame(),
			`{"type":"joined","ref":2,"room":"r","offset":0,"epoch":"e1","recovered":true}`},
		{Joined{Room: "r", Recovered: &no}.Frame(), `{"type":"joined","room":"r","recovered":false}`},
		{History{Ref: json.RawMessage(`3`), Room: "r", Messages: []json.RawMessage{json.RawMessage(`{"a":1}`)}, Offset: 7, Epoch: "e"}.Frame(),
			`{"type":"history","ref":3,"room":"r","messages":[{"a":1}],"offset":7,"epoch":"e"}`},
		{History{Room: "r", Messages: []json.RawMessage{}, Recovered: &no}.Frame(),
			`{"type":"history","room":"r","messages":[],"offset":0,"epoch":"","recovered":false}`},
		{ErrorFrame(nil, CodeBadRequest, "bad <frame>"), `{"type":"error","code":"bad_request","message":"bad \u003cframe\u003e"}`},
		{MessageErrorFrame(json.RawMessage(`"x"`), "m1", CodeOffline, "gone"), `{"type":"error","code":"offline","message":"gone","ref":"x","msg_id":"m1"}`},
	} {
		if string(tc.got) != tc.want {
			t.Errorf("got  %s\nwant %s", tc.got, tc.want)
		}
	}
}

// A frame that cannot be encoded becomes an internal error frame.
func TestMarshalFailure(t *testing.T) {
	got := ErrorFrame(json.RawMessage(`{bad`), CodeBadRequest, "x")
	if string(got) != `{"type":"error","code":"internal","message":"internal error"}` {
		t.Fatalf("got %s", got)
	}
}
