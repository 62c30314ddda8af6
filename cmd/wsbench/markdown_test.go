package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sampleReports() []*Report {
	idle := &Report{Scenario: scIdle, Config: &Config{Scenario: scIdle, Members: 100, Settle: time.Second},
		Result:  &WorkerResult{},
		Figures: Figures{Connected: 6},
		Nodes: []NodeFigures{{URL: "ws://n1", Conns: 3, RSS0KiB: 10000, RSSKiB: 10030},
			{URL: "ws://n2", Conns: 3, RSS0KiB: 10000, RSSKiB: 10036}}}
	rooms := &Report{Scenario: scRooms, Label: "rooms 30k", Config: &Config{Scenario: scRooms, URLs: []string{"a", "b", "c"},
		Rooms: 30, Members: 100, Pubs: 1, Payload: 128, Duration: 10 * time.Second, Rate: 30000},
		Result: &WorkerResult{},
		Figures: Figures{OfferedPerSec: 30000, DeliveriesPerSec: 29990, Received: 299900, Expected: 300000,
			Lost: 100, NodeUsPerDeliv: 12.5, Latency: Latency{P99: 3.2}},
		Redis: &RedisFigures{PerMessage: 1.01, Commands: map[string]int64{"publish": 3000}}}
	connect := &Report{Scenario: scConnect, Config: &Config{Scenario: scConnect, Concurrency: 64, Procs: 1},
		Result: &WorkerResult{}, Figures: Figures{Sockets: 9000, Connected: 9000, ConnectPerSec: 6000}}
	return []*Report{idle, rooms, connect}
}

func TestWriteMarkdown(t *testing.T) {
	var b bytes.Buffer
	writeMarkdown(&b, machine{CPUs: "2", Model: "Test CPU", Go: "go1.26", Kernel: "6.1"}, []string{"3 nodes"}, sampleReports())
	md := b.String()
	for _, want := range []string{
		"| CPUs (nproc) | 2 |", "| CPU model | Test CPU |", "- 3 nodes",
		"## Targets", "| idle memory per connection | ≤ 12 KiB | 11.0 KiB | yes |",
		"| rooms 30000/s: latency p99, loss | ≤ 5 ms, 0 lost | 3.20 ms, 100 lost | **no** |",
		"| rooms 30000/s: Redis commands per message | ≤ 1.05 | 1.010 | yes |",
		"| connect rate (auth + join) | ≥ 5000/s, 0 failures | 6000/s, 0 failures | yes |",
		"## idle", "## connect", "## rooms", "| 30000/s offered |", "| **node CPU µs/delivery** | **12.5** |",
		"**problems (rooms 30k)**: lost deliveries",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q\n%s", want, md)
		}
	}
	if strings.Index(md, "## idle") > strings.Index(md, "## connect") {
		t.Error("scenarios out of order")
	}
}

func TestReportMainReadsJSON(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "rooms.json")
	if err := writeJSON(in, sampleReports()[1]); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "BENCHMARKS.md")
	var stderr bytes.Buffer
	if code := reportMain([]string{"-o", out, "-note", "x", in}, &bytes.Buffer{}, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil || !strings.Contains(string(b), "29990") {
		t.Errorf("output %q, %v", b, err)
	}
	if code := reportMain([]string{filepath.Join(dir, "missing.json")}, &bytes.Buffer{}, &stderr); code == 0 {
		t.Error("missing input accepted")
	}
}

// TestDirectTargetsAreReference: issue 5 gives direct messages only the
// Redis goal; their CPU and latency rows are marked "—", never met or missed.
func TestDirectTargetsAreReference(t *testing.T) {
	direct := &Report{Scenario: scDirect, Figures: Figures{OfferedPerSec: 10000, Received: 10, NodeUsPerDeliv: 90,
		Latency: Latency{P99: 1}}, Redis: &RedisFigures{PerMessage: 1.5}}
	var b bytes.Buffer
	writeTargets(&b, []*Report{direct})
	md := b.String()
	for _, want := range []string{
		"| direct 10000/s: node CPU per delivery | none (reference: rooms ≤ 15 µs) | 90.0 µs | — |",
		"| direct 10000/s: latency p99, loss | none (reference: rooms ≤ 5 ms, 0 lost) | 1.00 ms, 0 lost | — |",
		"| direct 10000/s: Redis commands per message | ≤ 2.00 | 1.500 | yes |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("targets lack %q\n%s", want, md)
		}
	}
}

// TestSmallRoomsSection: rooms of one receiver get their own section and
// issue 18's goals (CPU per message, p99 / p99.9 / max), met or missed.
func TestSmallRoomsSection(t *testing.T) {
	small := &Report{Scenario: scRooms, Label: "small-rooms",
		Config: &Config{Scenario: scRooms, URLs: []string{"a", "b", "c"}, Rooms: 3000, Members: 1, Pubs: 1, Payload: 128},
		Figures: Figures{OfferedPerSec: 5000, MessagesSent: 100000, Received: 100000, NodeCPU: 15,
			Latency: Latency{Count: 100000, P99: 3.5, P999: 12, Max: 31}},
		Redis: &RedisFigures{PerMessage: 1.003}, Result: &WorkerResult{}}
	direct := &Report{Scenario: scDirect, Config: &Config{Scenario: scDirect, Conns: 3000, Pubs: 3000}}
	if got := section(direct); got != secSmallDirect {
		t.Fatalf("section of 3000 senders to 3000 users = %q", got)
	}
	var b bytes.Buffer
	writeMarkdown(&b, machine{}, nil, []*Report{small})
	md := b.String()
	for _, want := range []string{
		"## small rooms",
		"3000 rooms of 1 receivers",
		"| small rooms 5000/s: node CPU per message | ≤ 110 µs | 150.0 µs | **no** |",
		"| small rooms 5000/s: latency p99 / p99.9 / max | ≤ 4 / 15 / 30 ms | 3.50 / 12.0 / 31.0 ms | **no** |",
		"| small rooms 5000/s: loss | 0 | 0 | yes |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q\n%s", want, md)
		}
	}
	if strings.Contains(md, "## rooms\n") {
		t.Error("the small-rooms run was also reported under rooms")
	}
}
