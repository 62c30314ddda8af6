package node

import (
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	var c Config
	c.setDefaults()
	if c.MaxMessageSize != 64<<10 || c.SendQueueSize != 256 || c.MaxRoomsPerConn != 128 || c.AuthTimeout != 10*time.Second ||
		c.FlushInterval != time.Second || c.MessageBurst != 200 || c.Guests != GuestsOff {
		t.Fatalf("defaults: %+v", c)
	}
	c = Config{FlushInterval: time.Hour}
	c.setDefaults()
	if c.FlushInterval != time.Second {
		t.Fatalf("flush interval not capped: %v", c.FlushInterval)
	}
	if err := c.validate(); err == nil {
		t.Fatal("config without NodeID validated")
	}
}
