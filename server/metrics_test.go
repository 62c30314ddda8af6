package server

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestMetricsReconnectsCounter: pub/sub reconnects are exported once, as the
// counter wsnode_pubsub_reconnects_total; the gauge wsnode_pubsub_reconnects
// that duplicated it is gone.
func TestMetricsReconnectsCounter(t *testing.T) {
	nodes, _ := MustCluster(t, 1, nil)
	resp, err := http.Get(nodes[0].admin.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	text := string(body)
	if !strings.Contains(text, "# TYPE wsnode_pubsub_reconnects_total counter\n") ||
		!strings.Contains(text, "\nwsnode_pubsub_reconnects_total ") {
		t.Errorf("/metrics lacks the counter wsnode_pubsub_reconnects_total:\n%s", text)
	}
	for _, name := range []string{"wsnode_events_appended", "wsnode_events_errors"} {
		if !strings.Contains(text, "\n"+name+" 0\n") {
			t.Errorf("/metrics lacks %s:\n%s", name, text)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		name, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(line, "# TYPE "), "# HELP "), " ")
		if name == "wsnode_pubsub_reconnects" {
			t.Errorf("/metrics still has the gauge: %q", line)
		}
	}
}
