package main

import (
	"fmt"
	"io"
)

// target is one goal from issue 5 checked against one run.
type target struct {
	what, goal, got string
	ok              bool
	ref             bool // no goal applies: shown for reference, "met" is "—"
}

// writeTargets writes the summary table of goals against measurements.
func writeTargets(w io.Writer, reps []*Report) {
	var ts []target
	for _, r := range reps {
		ts = append(ts, targetsOf(r)...)
	}
	if len(ts) == 0 {
		return
	}
	rows := make([][]string, len(ts))
	for i, t := range ts {
		mark := "yes"
		switch {
		case t.ref:
			mark = "—"
		case !t.ok:
			mark = "**no**"
		}
		rows[i] = []string{t.what, t.goal, t.got, mark}
	}
	fmt.Fprintln(w, "## Targets")
	fmt.Fprintln(w)
	table(w, []string{"what", "target", "measured", "met"}, rows)
}

// targetsOf returns the goals that apply to one run.
func targetsOf(r *Report) []target {
	f := r.Figures
	name := fmt.Sprintf("%s %.0f/s", r.Scenario, f.OfferedPerSec)
	switch r.Scenario {
	case scIdle:
		kb := idleKiBPerConn(r)
		return []target{{what: "idle memory per connection", goal: "≤ 12 KiB", got: fmt.Sprintf("%.1f KiB", kb),
			ok: kb <= 12 && f.Connected > 0}}
	case scConnect:
		return []target{{what: "connect rate (auth + join)", goal: "≥ 5000/s, 0 failures",
			got: fmt.Sprintf("%.0f/s, %d failures", f.ConnectPerSec, f.Failed), ok: f.ConnectPerSec >= 5000 && f.Failed == 0}}
	case scRooms:
		return append(deliveryTargets(r, name),
			redisTarget(r, name, 1.05))
	case scDirect:
		// Issue 5 sets the CPU and latency goals for the standard room
		// workload only; direct messages get the Redis goal. The other two
		// are shown for reference, marked as such, not as met or missed.
		ts := deliveryTargets(r, name)
		for i := range ts {
			ts[i].goal = "none (reference: rooms " + ts[i].goal + ")"
			ts[i].ref = true
		}
		return append(ts, redisTarget(r, name, 2))
	}
	return nil
}

func deliveryTargets(r *Report, name string) []target {
	f := r.Figures
	return []target{
		{what: name + ": node CPU per delivery", goal: "≤ 15 µs", got: fmt.Sprintf("%.1f µs", f.NodeUsPerDeliv),
			ok: f.NodeUsPerDeliv > 0 && f.NodeUsPerDeliv <= 15},
		{what: name + ": latency p99, loss", goal: "≤ 5 ms, 0 lost", got: fmt.Sprintf("%s ms, %d lost", fmtMs(f.Latency.P99), f.Lost),
			ok: f.Received > 0 && f.Latency.P99 <= 5 && f.Lost == 0},
	}
}

func redisTarget(r *Report, name string, limit float64) target {
	t := target{what: name + ": Redis commands per message", goal: fmt.Sprintf("≤ %.2f", limit), got: "n/a"}
	if r.Redis != nil {
		t.got = fmt.Sprintf("%.3f", r.Redis.PerMessage)
		t.ok = r.Redis.PerMessage > 0 && r.Redis.PerMessage <= limit
	}
	return t
}

// idleKiBPerConn is the RSS growth of all nodes over all connections.
func idleKiBPerConn(r *Report) float64 {
	var conns, delta int64
	for _, n := range r.Nodes {
		conns += n.Conns
		delta += n.RSSKiB - n.RSS0KiB
	}
	if conns == 0 {
		return 0
	}
	return float64(delta) / float64(conns)
}
