package main

import (
	"fmt"
	"io"
	"strings"
)

// table writes a Markdown table.
func table(w io.Writer, header []string, rows [][]string) {
	fmt.Fprintf(w, "| %s |\n", strings.Join(header, " | "))
	fmt.Fprintf(w, "|%s\n", strings.Repeat(" --- |", len(header)))
	for _, r := range rows {
		fmt.Fprintf(w, "| %s |\n", strings.Join(r, " | "))
	}
	fmt.Fprintln(w)
}

func writeIdle(w io.Writer, group []*Report) {
	for _, r := range group {
		var rows [][]string
		var conns, rssDelta, burstDelta, gDelta int64
		goroutines := true
		for _, n := range r.Nodes {
			g := "–"
			if n.Goroutines > 0 {
				g = fmt.Sprintf("%d → %d (%.2f)", n.Goroutines0, n.Goroutines, n.GoroutinesPerConn)
				gDelta += n.Goroutines - n.Goroutines0
			} else {
				goroutines = false
			}
			rows = append(rows, []string{n.URL, fmt.Sprint(n.Conns), kib(n.RSS0KiB), kib(n.RSSBurstKiB), kib(n.RSSKiB),
				fmt.Sprintf("%.1f", n.KiBPerConnBurst), fmt.Sprintf("%.1f", n.KiBPerConn), g})
			conns += n.Conns
			rssDelta += n.RSSKiB - n.RSS0KiB
			burstDelta += n.RSSBurstKiB - n.RSS0KiB
		}
		if conns > 0 {
			g := "–"
			if goroutines {
				g = fmt.Sprintf("**%.2f**", float64(gDelta)/float64(conns))
			}
			rows = append(rows, []string{"**all**", fmt.Sprint(conns), "", "", "",
				fmt.Sprintf("**%.1f**", float64(burstDelta)/float64(conns)), fmt.Sprintf("**%.1f**", float64(rssDelta)/float64(conns)), g})
		}
		fmt.Fprintf(w, "%d connections, each authenticated and in one room of %d; RSS sampled right after the last join and again %s later; goroutines per connection from each node's go_goroutines.\n\n",
			r.Figures.Connected, r.Config.Members, r.Config.Settle)
		table(w, []string{"node", "connections", "RSS at 0", "RSS after the burst", "RSS " + r.Config.Settle.String() + " later",
			"KiB/conn after the burst", "KiB/conn " + r.Config.Settle.String() + " later", "goroutines (per conn)"}, rows)
	}
}

func writeConnect(w io.Writer, group []*Report) {
	var rows [][]string
	for _, r := range group {
		f := r.Figures
		rows = append(rows, []string{
			fmt.Sprint(f.Sockets), fmt.Sprint(r.Config.Concurrency), fmt.Sprint(r.Config.Procs),
			fmt.Sprintf("**%.0f**", f.ConnectPerSec), fmt.Sprint(f.Failed),
			fmtMs(f.ConnectLatency.P50), fmtMs(f.ConnectLatency.P99), fmtMs(f.ConnectLatency.Max),
			fmt.Sprintf("%.1f", f.NodeUsPerConn), fmt.Sprintf("%.2f", f.GenCPU),
		})
	}
	fmt.Fprintln(w, "Dial, welcome, auth and join, timed from the first dial to the last `joined`.")
	fmt.Fprintln(w)
	table(w, []string{"connections", "concurrency", "workers", "conn/s", "failures",
		"p50 ms", "p99 ms", "max ms", "node CPU µs/conn", "generator CPU s"}, rows)
}

// writeDelivery writes one column per run (rooms or direct).
func writeDelivery(w io.Writer, group []*Report) {
	c := group[0].Config
	if c.Scenario == scRooms {
		fmt.Fprintf(w, "%d rooms of %d receivers spread over %d nodes, %d publisher(s) per room, %d-byte payload, %s window after %s warm-up.\n\n",
			c.Rooms, c.Members, len(c.URLs), c.Pubs, c.Payload, c.Duration, c.Warmup)
	} else {
		fmt.Fprintf(w, "%d receivers (one user each) spread over %d nodes, %d senders to random users, %d-byte payload, %s window after %s warm-up.\n\n",
			c.Conns, len(c.URLs), c.Pubs, c.Payload, c.Duration, c.Warmup)
	}
	header := []string{"metric"}
	for _, r := range group {
		header = append(header, fmt.Sprintf("%.0f/s offered", r.Figures.OfferedPerSec))
	}
	var rows [][]string
	for _, m := range deliveryMetrics {
		row := []string{m.name}
		for _, r := range group {
			row = append(row, m.val(r))
		}
		rows = append(rows, row)
	}
	table(w, header, rows)
}

type metric struct {
	name string
	val  func(*Report) string
}

var deliveryMetrics = []metric{
	{"deliveries/s", func(r *Report) string { return fmt.Sprintf("%.0f", r.Figures.DeliveriesPerSec) }},
	{"messages sent", func(r *Report) string { return fmt.Sprint(r.Figures.MessagesSent) }},
	{"expected deliveries", func(r *Report) string { return fmt.Sprint(r.Figures.Expected) }},
	{"received", func(r *Report) string { return fmt.Sprint(r.Figures.Received) }},
	{"lost", func(r *Report) string { return fmt.Sprint(r.Figures.Lost) }},
	{"duplicates", func(r *Report) string { return fmt.Sprint(r.Figures.Dups) }},
	{"latency p50 ms", func(r *Report) string { return fmtMs(r.Figures.Latency.P50) }},
	{"latency p90 ms", func(r *Report) string { return fmtMs(r.Figures.Latency.P90) }},
	{"latency p99 ms", func(r *Report) string { return fmtMs(r.Figures.Latency.P99) }},
	{"latency p99.9 ms", func(r *Report) string { return fmtMs(r.Figures.Latency.P999) }},
	{"latency max ms", func(r *Report) string { return fmtMs(r.Figures.Latency.Max) }},
	{"node CPU s (all nodes)", func(r *Report) string { return fmt.Sprintf("%.2f", r.Figures.NodeCPU) }},
	{"**node CPU µs/delivery**", func(r *Report) string { return fmt.Sprintf("**%.1f**", r.Figures.NodeUsPerDeliv) }},
	{"generator CPU µs/delivery", func(r *Report) string { return fmt.Sprintf("%.1f", r.Figures.GenUsPerDeliv) }},
	{"Redis commands/message", func(r *Report) string {
		return redisVal(r, func(x *RedisFigures) string { return fmt.Sprintf("%.3f", x.PerMessage) })
	}},
	{"Redis commands", func(r *Report) string {
		return redisVal(r, func(x *RedisFigures) string { return countsString(x.Commands) })
	}},
	{"Redis CPU s", func(r *Report) string {
		return redisVal(r, func(x *RedisFigures) string { return fmt.Sprintf("%.2f", x.CPU) })
	}},
	{"machine CPU s busy / outside nodes+Redis+generator", func(r *Report) string {
		return fmt.Sprintf("%.1f / %.1f", r.Figures.MachineCPU, r.Figures.OtherCPU)
	}},
	{"Redis PUBLISH/message", func(r *Report) string {
		return redisVal(r, func(x *RedisFigures) string { return ratio(x.Commands["publish"], r.Figures.MessagesSent) })
	}},
	{"generator send lag p99 / max ms", func(r *Report) string {
		return fmtMs(r.Figures.SendLag.P99) + " / " + fmtMs(r.Figures.SendLag.Max)
	}},
	{"publisher write call p99 / max ms", func(r *Report) string {
		return fmtMs(r.Figures.WriteTime.P99) + " / " + fmtMs(r.Figures.WriteTime.Max)
	}},
}

func redisVal(r *Report, f func(*RedisFigures) string) string {
	if r.Redis == nil {
		return "n/a"
	}
	return f(r.Redis)
}

func kib(v int64) string { return fmt.Sprintf("%.1f MiB", float64(v)/1024) }

func ratio(a, b int64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.3f", float64(a)/float64(b))
}
