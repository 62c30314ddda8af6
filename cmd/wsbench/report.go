package main

import (
	"maps"
	"slices"
	"time"
)

// Report is the merged outcome of one wsbench run, written as JSON with
// -out and rendered by "wsbench report".
type Report struct {
	Scenario string        `json:"scenario"`
	Label    string        `json:"label,omitempty"`
	Time     string        `json:"time"`
	Config   *Config       `json:"config"`
	Figures  Figures       `json:"figures"`
	Nodes    []NodeFigures `json:"nodes,omitempty"`
	Redis    *RedisFigures `json:"redis,omitempty"`
	Result   *WorkerResult `json:"result"`
	Warnings []string      `json:"warnings,omitempty"`
}

// Figures are the headline numbers of a run.
type Figures struct {
	Sockets        int     `json:"sockets"`
	Connected      int64   `json:"connected"`
	Failed         int64   `json:"failed"`
	ConnectPerSec  float64 `json:"connect_per_s"`
	ConnectLatency Latency `json:"connect_latency"`

	OfferedPerSec    float64 `json:"offered_per_s"`
	MessagesSent     int64   `json:"messages_sent"`
	Expected         int64   `json:"expected"`
	Received         int64   `json:"received"`
	Lost             int64   `json:"lost"`
	Dups             int64   `json:"dups"`
	Strays           int64   `json:"strays"`
	Echoes           int64   `json:"echoes"`
	ErrFrames        int64   `json:"error_frames"`
	Disconnects      int64   `json:"disconnects"`
	DeliveriesPerSec float64 `json:"deliveries_per_s"`
	Latency          Latency `json:"latency"`
	SendLag          Latency `json:"send_lag"`
	WriteTime        Latency `json:"write_time"`

	WindowSec      float64 `json:"window_s"`
	GenCPU         float64 `json:"gen_cpu_s"`
	GenUsPerDeliv  float64 `json:"gen_us_per_delivery"`
	NodeCPU        float64 `json:"node_cpu_s"`
	NodeUsPerDeliv float64 `json:"node_us_per_delivery"`
	NodeUsPerConn  float64 `json:"node_us_per_connect,omitempty"`
	GenMaxRSSKiB   int64   `json:"gen_max_rss_kib"`
	MachineCPU     float64 `json:"machine_cpu_s"` // all CPUs busy in the window
	OtherCPU       float64 `json:"other_cpu_s"`   // machine minus nodes, Redis, generator
}

// NodeFigures are the per-node server measurements.
type NodeFigures struct {
	URL        string  `json:"url"`
	PID        int     `json:"pid,omitempty"`
	Conns      int64   `json:"conns"`
	CPU        float64 `json:"cpu_s"`
	RSS0KiB    int64   `json:"rss0_kib"`
	RSSKiB     int64   `json:"rss_kib"`
	KiBPerConn float64 `json:"kib_per_conn"`
	// Idle runs: RSS right after the last join (RSSKiB is after Settle),
	// and goroutines before any socket and after Settle (-admins; -1
	// when not read).
	RSSBurstKiB       int64   `json:"rss_burst_kib,omitempty"`
	KiBPerConnBurst   float64 `json:"kib_per_conn_burst,omitempty"`
	Goroutines0       int64   `json:"goroutines0,omitempty"`
	Goroutines        int64   `json:"goroutines,omitempty"`
	GoroutinesPerConn float64 `json:"goroutines_per_conn,omitempty"`
}

// addBurst fills the idle figures that need the sample taken right after
// the connect burst, and the goroutine counts.
func addBurst(rep *Report, base, burst serverSample) {
	for i := range rep.Nodes {
		n := &rep.Nodes[i]
		if i < len(burst.RSS) {
			n.RSSBurstKiB = burst.RSS[i]
			if n.Conns > 0 {
				n.KiBPerConnBurst = float64(n.RSSBurstKiB-n.RSS0KiB) / float64(n.Conns)
			}
		}
		if i < len(base.Goroutines) && i < len(burst.Goroutines) && base.Goroutines[i] > 0 && burst.Goroutines[i] > 0 {
			n.Goroutines0 = base.Goroutines[i]
			n.Goroutines = burst.Goroutines[i]
			if n.Conns > 0 {
				n.GoroutinesPerConn = float64(n.Goroutines-n.Goroutines0) / float64(n.Conns)
			}
		}
	}
}

// RedisFigures are the Redis commands issued during the window.
type RedisFigures struct {
	Commands    map[string]int64 `json:"commands"`
	Total       int64            `json:"total"`
	PerMessage  float64          `json:"per_message"`
	PerDelivery float64          `json:"per_delivery"`
	CPU         float64          `json:"cpu_s"`
	// Shards are the primaries of a Redis Cluster, in address order.
	Shards []RedisShard `json:"shards,omitempty"`
}

// RedisShard is one primary's share of a run's Redis work.
type RedisShard struct {
	Addr     string  `json:"addr"`
	Commands int64   `json:"commands"`
	CPU      float64 `json:"cpu_s"`
}

// buildReport turns the merged worker result and the server samples into
// figures: base is taken before any socket exists, before and after bound
// the measurement window.
func buildReport(cfg *Config, r *WorkerResult, base, before, after serverSample) *Report {
	rep := &Report{Scenario: cfg.Scenario, Label: cfg.Label, Config: cfg, Result: r,
		Time: time.Now().UTC().Format(time.RFC3339)}
	f := &rep.Figures
	fillConnect(f, cfg, r)
	fillDelivery(f, cfg, r)
	rep.Nodes = nodeFigures(cfg, r, base, before, after)
	for _, n := range rep.Nodes {
		f.NodeCPU += n.CPU
	}
	f.NodeUsPerDeliv = perUnitUs(f.NodeCPU, f.Received)
	if cfg.Scenario == scConnect {
		f.NodeUsPerConn = perUnitUs(f.NodeCPU, f.Connected)
	}
	if before.Redis != nil && after.Redis != nil {
		rep.Redis = redisFigures(before.Redis, after.Redis, f.MessagesSent, f.Received)
	}
	fillMachine(f, rep.Redis, before, after)
	return rep
}

func fillConnect(f *Figures, cfg *Config, r *WorkerResult) {
	f.Sockets = cfg.Sockets()
	f.Connected, f.Failed = r.Connected, r.FailedTotal()
	f.ConnectLatency = r.ConnectLat.Summary()
	if span := r.ConnEnd - r.ConnStart; span > 0 {
		f.ConnectPerSec = float64(r.Connected) / (float64(span) / 1e9)
	}
	f.GenCPU, f.GenMaxRSSKiB = r.CPU, r.MaxRSSKiB
	f.WindowSec = max(0, float64(r.WindowEnd-r.WindowStart)/1e9)
}

// fillMachine accounts for the whole machine's CPU over the window: what
// was not spent by the nodes, Redis or the generator went to other
// processes (or to softirq work), and makes the figures noisier. The
// remainder is not clamped: a negative one shows the accounting skew
// between /proc/stat and the per-process times.
func fillMachine(f *Figures, rf *RedisFigures, before, after serverSample) {
	wall := float64(after.At-before.At) / 1e9
	if before.CPUs == 0 || after.CPUs != before.CPUs || wall <= 0 {
		return
	}
	f.MachineCPU = max(0, wall*float64(after.CPUs)-(after.Idle-before.Idle))
	f.OtherCPU = f.MachineCPU - f.NodeCPU - f.GenCPU
	if rf != nil {
		f.OtherCPU -= rf.CPU
	}
}

func fillDelivery(f *Figures, cfg *Config, r *WorkerResult) {
	if cfg.publishes() {
		f.OfferedPerSec = cfg.Rate
	}
	f.MessagesSent = r.SentMeasured()
	f.Expected, f.Received = r.Expected(), r.Received
	f.Lost = f.Expected - f.Received
	f.Dups, f.Strays, f.Echoes, f.ErrFrames = r.Dups, r.Strays, r.Echoes, r.ErrFrames
	for _, n := range r.Disconnects {
		f.Disconnects += n
	}
	if cfg.Duration > 0 && cfg.publishes() {
		f.DeliveriesPerSec = float64(r.Received) / cfg.Duration.Seconds()
	}
	f.Latency = r.Latency.Summary()
	f.SendLag = r.SendLag.Summary()
	f.WriteTime = r.WriteTime.Summary()
	f.GenUsPerDeliv = perUnitUs(r.CPU, r.Received)
}

func nodeFigures(cfg *Config, r *WorkerResult, base, before, after serverSample) []NodeFigures {
	out := make([]NodeFigures, len(cfg.URLs))
	for i, u := range cfg.URLs {
		n := NodeFigures{URL: u}
		if i < len(r.ByNode) {
			n.Conns = r.ByNode[i]
		}
		if i < len(cfg.PIDs) {
			n.PID = cfg.PIDs[i]
			n.CPU = after.CPU[i] - before.CPU[i]
			n.RSS0KiB, n.RSSKiB = base.RSS[i], before.RSS[i]
			if n.Conns > 0 {
				n.KiBPerConn = float64(n.RSSKiB-n.RSS0KiB) / float64(n.Conns)
			}
		}
		out[i] = n
	}
	return out
}

func redisFigures(before, after *redisSample, msgs, deliveries int64) *RedisFigures {
	cmds, total := redisDelta(before, after)
	rf := &RedisFigures{Commands: cmds, Total: total, CPU: after.CPU - before.CPU}
	for _, addr := range slices.Sorted(maps.Keys(after.Shards)) {
		b := before.Shards[addr]
		if b == nil {
			continue // a primary that appeared during the run (failover): no baseline
		}
		_, n := redisDelta(b, after.Shards[addr])
		rf.Shards = append(rf.Shards, RedisShard{Addr: addr, Commands: n, CPU: after.Shards[addr].CPU - b.CPU})
	}
	if msgs > 0 {
		rf.PerMessage = float64(total) / float64(msgs)
	}
	if deliveries > 0 {
		rf.PerDelivery = float64(total) / float64(deliveries)
	}
	return rf
}

// perUnitUs is cpu seconds per unit, in microseconds (0 when units is 0).
func perUnitUs(cpu float64, units int64) float64 {
	if units <= 0 {
		return 0
	}
	return cpu / float64(units) * 1e6
}

// Problems lists what makes a run fail -strict.
func (r *Report) Problems() []string {
	f := r.Figures
	var p []string
	add := func(cond bool, s string) {
		if cond {
			p = append(p, s)
		}
	}
	add(f.Failed > 0, "connection failures")
	add(f.Connected == 0 && f.Sockets > 0, "no connection succeeded")
	add(f.Disconnects > 0, "unexpected disconnects")
	add(f.ErrFrames > 0, "server error frames")
	if r.Config.publishes() {
		add(f.Received == 0, "no deliveries")
		add(f.Lost != 0, "lost deliveries")
		add(f.Dups > 0, "duplicate deliveries")
		add(f.Strays > 0, "misrouted deliveries")
		add(r.Result.SendErrors > 0, "send errors")
	}
	return p
}
