package registry

import "testing"

func TestNewValidatesConfig(t *testing.T) {
	_, rdb := MustMiniredis(t)
	bad := []Config{
		{},                                  // missing node id
		{NodeID: "a:b"},                     // separator in node id
		{NodeID: "n1", Prefix: "ws:"},       // separator in prefix
		{NodeID: "n1", Prefix: "w*"},        // glob in prefix
		{NodeID: "n1", MaxConnsPerUser: -1}, // negative limit
	}
	for _, cfg := range bad {
		if _, err := New(rdb, cfg); err == nil {
			t.Errorf("New(%+v) = nil error, want error", cfg)
		}
	}
	r, err := New(rdb, Config{NodeID: "n1"})
	noErr(t, err)
	equal(t, "prefix", r.Prefix(), "ws")
	equal(t, "ttl", r.HeartbeatTTL(), DefaultHeartbeatTTL)
	equal(t, "node", r.NodeID(), "n1")
	if _, err := New(nil, Config{NodeID: "n1"}); err == nil {
		t.Error("New(nil client) = nil error")
	}
}
