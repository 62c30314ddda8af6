package node

import (
	"testing"

	"github.com/wsnode/wsnode/protocol"
)

func TestPayloadPosition(t *testing.T) {
	cases := []struct {
		in   string
		want position
		ok   bool
	}{
		{`{"type":"message","data":1,"offset":42,"epoch":"0123456789abcdef"}`, position{42, "0123456789abcdef"}, true},
		{`{"type":"message","data":{"offset":7,"epoch":"x"},"msg_id":"m","ts":1}`, position{}, false},
		{`{"type":"message","data":",\"offset\":7,\"epoch\":\"x\"}"}`, position{}, false},
		{`{"type":"message","offset":0,"epoch":"e"}`, position{}, false},
		{`{"type":"message","offset":,"epoch":"e"}`, position{}, false},
		{`{"type":"message","offset":1,"epoch":""}`, position{}, false},
		{`{"type":"message","offset":99999999999999999999999,"epoch":"e"}`, position{}, false},
		{`"}`, position{}, false},
		{``, position{}, false},
	}
	for _, tc := range cases {
		got, ok := payloadPosition([]byte(tc.in))
		if ok != tc.ok || got != tc.want {
			t.Errorf("payloadPosition(%s) = %+v %v, want %+v %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzPayloadPosition(f *testing.F) {
	f.Add([]byte(`{"a":1,"offset":42,"epoch":"0123456789abcdef"}`))
	f.Add([]byte(`,"epoch":""}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		pos, ok := payloadPosition(b)
		if ok && (pos.offset == 0 || pos.epoch == "" || len(pos.epoch) > protocol.MaxEpochLen) {
			t.Fatalf("accepted %+v from %q", pos, b)
		}
	})
}
