package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// printSummary writes a human-readable account of a run.
func printSummary(w io.Writer, r *Report) {
	f := r.Figures
	fmt.Fprintf(w, "scenario %s  sockets %d  workers %d  connected %d  failed %d\n",
		r.Scenario, f.Sockets, r.Result.Workers, f.Connected, f.Failed)
	if len(r.Result.Failures) > 0 {
		fmt.Fprintf(w, "  failures by stage: %s\n", countsString(r.Result.Failures))
		for _, s := range r.Result.FailSamples {
			fmt.Fprintf(w, "  e.g. %s\n", s)
		}
	}
	fmt.Fprintf(w, "connect: %.0f conn/s  latency %s\n", f.ConnectPerSec, latString(f.ConnectLatency))
	if r.Config.publishes() {
		printDelivery(w, r)
	}
	printServer(w, r)
	fmt.Fprintf(w, "generator: cpu %.2fs in %.1fs window%s, peak rss %d KiB\n",
		f.GenCPU, f.WindowSec, perUnit(f.GenUsPerDeliv, "delivery"), f.GenMaxRSSKiB)
	if f.NodeCPU > 0 {
		fmt.Fprintf(w, "nodes: cpu %.2fs%s%s\n", f.NodeCPU,
			perUnit(f.NodeUsPerDeliv, "delivery"), perUnit(f.NodeUsPerConn, "connect"))
	}
	if f.MachineCPU > 0 {
		fmt.Fprintf(w, "machine: %.2f CPU-s busy in the window, %.2f of them outside nodes, Redis and generator\n",
			f.MachineCPU, f.OtherCPU)
	}
	for _, s := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", s)
	}
}

// printServer prints per-node figures (RSS only where it means something:
// the idle scenario) and the Redis commands of the window.
func printServer(w io.Writer, r *Report) {
	for _, n := range r.Nodes {
		fmt.Fprintf(w, "node %s: conns %d", n.URL, n.Conns)
		if n.PID == 0 {
			fmt.Fprintln(w)
			continue
		}
		fmt.Fprintf(w, "  pid %d  cpu %.2fs", n.PID, n.CPU)
		if r.Scenario == scIdle {
			fmt.Fprintf(w, "  rss %d->%d KiB (%.2f KiB/conn)", n.RSS0KiB, n.RSSKiB, n.KiBPerConn)
		}
		fmt.Fprintln(w)
	}
	if r.Redis != nil && r.Scenario != scIdle {
		fmt.Fprintf(w, "redis: %d commands", r.Redis.Total)
		if r.Config.publishes() {
			fmt.Fprintf(w, " (%.3f/message, %.4f/delivery)", r.Redis.PerMessage, r.Redis.PerDelivery)
		}
		fmt.Fprintf(w, ", cpu %.2fs: %s\n", r.Redis.CPU, countsString(r.Redis.Commands))
	}
}

func printDelivery(w io.Writer, r *Report) {
	f := r.Figures
	fmt.Fprintf(w, "offered %.0f/s  delivered %.0f/s  messages %d  expected %d  received %d  lost %d  dups %d\n",
		f.OfferedPerSec, f.DeliveriesPerSec, f.MessagesSent, f.Expected, f.Received, f.Lost, f.Dups)
	fmt.Fprintf(w, "latency %s\n", latString(f.Latency))
	fmt.Fprintf(w, "send lag %s  send errors %d\n", latString(f.SendLag), r.Result.SendErrors)
	fmt.Fprintf(w, "write time %s\n", latString(f.WriteTime))
	if f.Strays+f.Echoes+f.ErrFrames+f.Disconnects > 0 {
		fmt.Fprintf(w, "strays %d  echoes %d  error frames %d  disconnects %s\n",
			f.Strays, f.Echoes, f.ErrFrames, countsString(r.Result.Disconnects))
	}
	for _, s := range r.Result.ErrSamples {
		fmt.Fprintf(w, "  error frame: %s\n", s)
	}
}

func latString(l Latency) string {
	if l.Count == 0 {
		return "n/a"
	}
	return fmt.Sprintf("p50 %s p90 %s p99 %s p99.9 %s max %s ms (n=%d)",
		fmtMs(l.P50), fmtMs(l.P90), fmtMs(l.P99), fmtMs(l.P999), fmtMs(l.Max), l.Count)
}

// fmtMs prints milliseconds with precision that suits their size.
func fmtMs(v float64) string {
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

func countsString(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

// perUnit formats " (X us/unit)", or nothing when v is 0.
func perUnit(v float64, unit string) string {
	if v == 0 {
		return ""
	}
	return fmt.Sprintf(" (%.1f us/%s)", v, unit)
}
