package node

import (
	"os/exec"
	"strings"
	"testing"
)

// node speaks in its own small types and the pure packages' (cluster,
// envelope, counter, protocol): it must not depend on Redis or Prometheus,
// so its tests run on fakes and a reader sees which layer it is.
func TestNodeImportsNoRedisNorPrometheus(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed only %v", deps)
	}
	for _, d := range deps {
		for _, banned := range []string{"github.com/redis/go-redis", "github.com/prometheus/", "github.com/wsnode/wsnode/registry",
			"github.com/wsnode/wsnode/pubsub", "github.com/wsnode/wsnode/stats", "github.com/wsnode/wsnode/history"} {
			if strings.HasPrefix(d, banned) {
				t.Errorf("node depends on %s", d)
			}
		}
	}
}
