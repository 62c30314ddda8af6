package node

import (
	"encoding/json"
	"testing"

	"github.com/wsnode/wsnode/cluster"
)

// appendEvent writes exactly what encoding/json writes for a cluster.Event,
// escapes included, without reflection; only data is copied as the client
// sent it (encoding/json would HTML-escape it, which changes no value).
func TestAppendEventMatchesEncodingJSON(t *testing.T) {
	for _, e := range []cluster.Event{
		{Type: cluster.EventConnect, TS: 1796632552078, NodeID: "n1", ConnID: "6f0c-1", User: "alice", ConnType: "user"},
		{Type: cluster.EventMessage, TS: 1, NodeID: "n1", ConnID: "c", User: "bob", ConnType: "ai_assistant", Room: "lobby",
			Data: json.RawMessage(`{"text":"hi"}`), MsgID: "m-1"},
		{Type: cluster.EventDirect, TS: 2, NodeID: "n2", ConnID: "c", ConnType: "guest", ToConn: "d", Data: json.RawMessage(`null`)},
		{Type: cluster.EventDisconnect, TS: 3, NodeID: "n", ConnID: "c", User: "u", ConnType: "user", Code: 4001,
			Reason: "quote \" backslash \\ tab \t <&> é \x00 bad \xff utf-8"},
	} {
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendEvent(nil, e); string(got) != string(want) {
			t.Errorf("appendEvent\n got %s\nwant %s", got, want)
		}
	}
	raw := json.RawMessage(`{"text":"hi <b>&"}`)
	var back struct{ Data json.RawMessage }
	if err := json.Unmarshal(appendEvent(nil, cluster.Event{Type: "message", Data: raw}), &back); err != nil || string(back.Data) != string(raw) {
		t.Errorf("data %s came back as %s (%v)", raw, back.Data, err)
	}
}
