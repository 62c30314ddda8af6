package node

import "testing"

// The default byte budget holds a burst of 64 messages of the largest size
// a client may send, so a client that reads is not closed as slow while
// its socket drains; the frame cap (256) binds for messages under 16 KiB.
// It was 1 MiB, fewer than 16 such messages.
func TestDefaultByteBudgetHoldsABurstOfLargeMessages(t *testing.T) {
	var c Config
	c.setDefaults()
	if c.MaxQueuedBytes != 4<<20 {
		t.Fatalf("default MaxQueuedBytes = %d, documented 4 MiB", c.MaxQueuedBytes)
	}
	if c.MaxQueuedBytes < 64*c.MaxMessageSize {
		t.Fatalf("default MaxQueuedBytes %d holds fewer than 64 messages of %d bytes", c.MaxQueuedBytes, c.MaxMessageSize)
	}
	if per := c.MaxQueuedBytes / int64(c.SendQueueSize); per != 16<<10 {
		t.Fatalf("the byte budget binds above %d bytes per frame, documented 16 KiB", per)
	}
	// A budget set explicitly is kept (the flag still works).
	c = Config{MaxQueuedBytes: 262144}
	c.setDefaults()
	if c.MaxQueuedBytes != 262144 {
		t.Fatalf("explicit MaxQueuedBytes became %d", c.MaxQueuedBytes)
	}
}
