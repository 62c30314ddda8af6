package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The capacity table divides Redis CPU and commands by the run's unit and
// derives a join from the two connect runs.
func TestCapacityTable(t *testing.T) {
	dir := t.TempDir()
	write := func(file string, connected, sent, cmds int64, redisCPU, nodeCPU float64) {
		b, err := json.Marshal(Report{Figures: Figures{Connected: connected, MessagesSent: sent, NodeCPU: nodeCPU},
			Redis: &RedisFigures{Total: cmds, CPU: redisCPU}})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, file), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("connect-nojoin.json", 1000, 0, 3000, 0.1, 0.2)
	write("connect.json", 1000, 0, 5000, 0.15, 0.3)
	write("small-direct.json", 9, 2000, 2000, 0.05, 0.4)
	col, err := readCapacity("single", dir)
	if err != nil {
		t.Fatal(err)
	}
	md := renderCapacity([]capacityColumn{col})
	for _, want := range []string{
		"| connect (dial, welcome, auth; no room) | 100.0 | 3.00 | 200.0 |",
		"| join (connect with one join, minus connect without) | 50.0 | 2.00 | 100.0 |",
		"| direct message | 25.0 | 1.00 | 200.0 |",
		"| room message, rooms of 100 | – | – | – |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("table lacks %q:\n%s", want, md)
		}
	}
}
