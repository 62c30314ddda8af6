package haproxycfg

import (
	"os"
	"strings"
	"testing"
)

func TestRenderShippedConfig(t *testing.T) {
	b, err := os.ReadFile("../../deploy/haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	nodes := []Node{{"127.0.0.1:2001", "3001"}, {"127.0.0.1:2002", "3002"}, {"127.0.0.1:2003", "3003"}}
	cfg, err := Render(string(b), 4000, nodes)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"bind 127.0.0.1:4000", "127.0.0.1:2001 ", "check port 3001", "127.0.0.1:2003 ", "check port 3003"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("rendered config lacks %q:\n%s", want, cfg)
		}
	}
	if strings.Contains(cfg, "\nresolvers ") || strings.Contains(cfg, " resolvers docker") || bindLine.MatchString(cfg) {
		t.Errorf("rendered config still has Docker's resolver or :8080:\n%s", cfg)
	}
	binds, servers := Parse(string(b))
	if !binds || len(servers) != 3 || servers[0].Name != "node1" || servers[0].CheckPort == 0 {
		t.Errorf("Parse: binds :8080 %v, servers %+v", binds, servers)
	}
	if _, err := Render(string(b), 4000, nodes[:2]); err == nil {
		t.Error("two nodes for three server lines: no error")
	}
	if _, err := Render("frontend x\n", 4000, nodes); err == nil {
		t.Error("a config without a bind on :8080: no error")
	}
}
