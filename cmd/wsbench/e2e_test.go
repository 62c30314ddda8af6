package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const testSecret = "test-secret"

// testConfig is a small, fast run against the given fake nodes.
func testConfig(scenario string, urls []string) *Config {
	c := &Config{
		Scenario: scenario, URLs: urls, Secret: testSecret,
		Conns: 12, Rooms: 3, Members: 4, Pubs: 1, Rate: 600,
		Duration: 500 * time.Millisecond, Warmup: 100 * time.Millisecond,
		Drain: time.Second, Settle: 10 * time.Millisecond, Payload: 128,
		Concurrency: 4, Procs: 2, MaxPerProc: 1000, SrcAddrs: []string{"127.0.0.1"},
		Prefix: "t", Timeout: 5 * time.Second, PubJoin: true,
	}
	if scenario == scDirect {
		c.Pubs = 3
	}
	return c
}

func runBench(t *testing.T, cfg *Config, l launcher) *Report {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	rep, err := coordinate(context.Background(), cfg, l, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			var b bytes.Buffer
			printSummary(&b, rep)
			t.Log("\n" + b.String())
		}
	})
	return rep
}

func TestRoomsEndToEnd(t *testing.T) {
	hub := newFakeHub(testSecret)
	cfg := testConfig(scRooms, hub.startNodes(t, 3))
	rep := runBench(t, cfg, inprocLauncher())
	f := rep.Figures
	// 600 deliveries/s over rooms of 4 = 150 msg/s, 0.5 s window = 75 messages.
	if f.MessagesSent < 70 || f.MessagesSent > 80 {
		t.Errorf("messages sent in window = %d, want about 75", f.MessagesSent)
	}
	if f.Expected != f.MessagesSent*4 || f.Received != f.Expected || f.Lost != 0 || f.Dups != 0 {
		t.Errorf("expected %d received %d lost %d dups %d", f.Expected, f.Received, f.Lost, f.Dups)
	}
	if f.Latency.Count != uint64(f.Received) || f.Latency.P99 <= 0 || f.Latency.Max > 3000 {
		t.Errorf("latency %+v", f.Latency)
	}
	if rep.Result.Warmup == 0 || f.Echoes != 0 || f.Strays != 0 {
		t.Errorf("warmup %d echoes %d strays %d", rep.Result.Warmup, f.Echoes, f.Strays)
	}
	if p := rep.Problems(); len(p) != 0 {
		t.Errorf("problems: %v", p)
	}
}

func TestDirectEndToEnd(t *testing.T) {
	hub := newFakeHub(testSecret)
	cfg := testConfig(scDirect, hub.startNodes(t, 2))
	cfg.Procs = 1 // the lone-worker drain path: waits for exactly what it expects
	rep := runBench(t, cfg, inprocLauncher())
	f := rep.Figures
	if f.MessagesSent < 280 || f.MessagesSent > 320 || f.Expected != f.MessagesSent {
		t.Errorf("sent %d expected %d, want about 300 each", f.MessagesSent, f.Expected)
	}
	if f.Received != f.Expected || f.Dups != 0 || f.Strays != 0 {
		t.Errorf("received %d of %d, dups %d strays %d", f.Received, f.Expected, f.Dups, f.Strays)
	}
}

func TestLossAndDuplicatesAreDetected(t *testing.T) {
	hub := newFakeHub(testSecret)
	hub.dropEvery, hub.dupEvery = 7, 11
	cfg := testConfig(scRooms, hub.startNodes(t, 2))
	cfg.Warmup = 0 // every delivery the hub drops or doubles is a measured one
	rep := runBench(t, cfg, inprocLauncher())
	f := rep.Figures
	if f.Lost != hub.dropped.Load() || f.Lost == 0 {
		t.Errorf("lost %d, hub dropped %d", f.Lost, hub.dropped.Load())
	}
	if f.Dups != hub.duplicated.Load() || f.Dups == 0 {
		t.Errorf("dups %d, hub duplicated %d", f.Dups, hub.duplicated.Load())
	}
	if len(rep.Problems()) == 0 {
		t.Error("a lossy run must report problems")
	}
}

func TestIdleAndConnectSpreadOverNodes(t *testing.T) {
	hub := newFakeHub(testSecret)
	urls := hub.startNodes(t, 3)
	for _, sc := range []string{scIdle, scConnect} {
		rep := runBench(t, testConfig(sc, urls), inprocLauncher())
		f := rep.Figures
		if f.Connected != 12 || f.Failed != 0 {
			t.Fatalf("%s: connected %d failed %d", sc, f.Connected, f.Failed)
		}
		for i, n := range rep.Nodes {
			if n.Conns != 4 {
				t.Errorf("%s: node %d has %d conns, want 4", sc, i, n.Conns)
			}
		}
		if sc == scConnect && (f.ConnectPerSec <= 0 || f.ConnectLatency.Count != 12) {
			t.Errorf("connect rate %.1f latency count %d", f.ConnectPerSec, f.ConnectLatency.Count)
		}
	}
}

func TestAuthFailuresAreCounted(t *testing.T) {
	hub := newFakeHub("another-secret")
	cfg := testConfig(scIdle, hub.startNodes(t, 1))
	rep := runBench(t, cfg, inprocLauncher())
	if rep.Figures.Connected != 0 || rep.Result.Failures[stageAuth] != 12 {
		t.Fatalf("connected %d failures %v", rep.Figures.Connected, rep.Result.Failures)
	}
	if !strings.Contains(strings.Join(rep.Result.FailSamples, " "), "auth_failed") {
		t.Errorf("samples %v do not show the server's error", rep.Result.FailSamples)
	}
}

// TestWorkerProcesses runs the real multi-process path: the coordinator
// re-executes this test binary as two workers.
func TestWorkerProcesses(t *testing.T) {
	hub := newFakeHub(testSecret)
	cfg := testConfig(scRooms, hub.startNodes(t, 2))
	var out bytes.Buffer
	errw := &syncBuffer{}
	cfg.Out = filepath.Join(t.TempDir(), "rooms.json")
	cfg.Strict = true
	if code := bench(context.Background(), cfg, execLauncher(errw), &out, errw); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errw.String())
	}
	b, err := os.ReadFile(cfg.Out)
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Result.Workers != 2 || rep.Figures.Received == 0 || rep.Figures.Received != rep.Figures.Expected {
		t.Errorf("workers %d received %d expected %d", rep.Result.Workers, rep.Figures.Received, rep.Figures.Expected)
	}
	if !strings.Contains(out.String(), "latency p50") {
		t.Errorf("summary lacks latency line:\n%s", out.String())
	}
}

// syncBuffer is a bytes.Buffer that several workers' stderr copiers may
// write to at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestInterruptStopsWorkersPromptly(t *testing.T) {
	hub := newFakeHub(testSecret)
	cfg := testConfig(scRooms, hub.startNodes(t, 1))
	cfg.Duration = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	if _, err := coordinate(ctx, cfg, inprocLauncher(), &bytes.Buffer{}); err == nil {
		t.Fatal("an interrupted run reported success")
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("interrupted run took %v to stop", d)
	}
}

func TestDialsFromSeveralSourceAddresses(t *testing.T) {
	hub := newFakeHub(testSecret)
	cfg := testConfig(scIdle, hub.startNodes(t, 1))
	cfg.SrcAddrs = loopbackAddrs(3)
	rep := runBench(t, cfg, inprocLauncher())
	if rep.Figures.Connected != 12 {
		t.Fatalf("connected %d", rep.Figures.Connected)
	}
	hub.mu.Lock()
	defer hub.mu.Unlock()
	for _, ip := range cfg.SrcAddrs {
		if hub.remoteIPs[ip] != 4 {
			t.Errorf("source %s used by %d sockets, want 4 (all: %v)", ip, hub.remoteIPs[ip], hub.remoteIPs)
		}
	}
}

func TestBadSourceAddressIsRejected(t *testing.T) {
	if _, err := newDialPool([]string{"not-an-ip"}, time.Second); err == nil {
		t.Error("bad source address accepted")
	}
}

func TestProgressOnlyWithVerbose(t *testing.T) {
	hub := newFakeHub(testSecret)
	urls := hub.startNodes(t, 1)
	for _, verbose := range []bool{false, true} {
		cfg := testConfig(scIdle, urls)
		cfg.Verbose = verbose
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		var log bytes.Buffer
		if _, err := coordinate(context.Background(), cfg, inprocLauncher(), &log); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(log.String(), "workers ready"); got != verbose {
			t.Errorf("verbose %v: progress line shown %v; log:\n%s", verbose, got, log.String())
		}
	}
}
