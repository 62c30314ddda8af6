package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// clustercmpMain compares the same runs on one Redis and on a Redis
// Cluster against issue 17's targets, and lists each primary's share of
// the cluster runs' Redis work:
//
//	wsbench clustercmp -single-connect A.json -single-rooms B.json \
//	    -cluster-connect C.json -cluster-rooms D.json [-o FILE]
func clustercmpMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("clustercmp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	paths := map[string]*string{}
	for _, k := range []string{"single-connect", "single-rooms", "cluster-connect", "cluster-rooms"} {
		paths[k] = fs.String(k, "", "result JSON of that run")
	}
	out := fs.String("o", "", "write the markdown here instead of stdout")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	reps := map[string]*Report{}
	for k, p := range paths {
		if *p == "" {
			fmt.Fprintf(stderr, "wsbench clustercmp: -%s is required\n", k)
			return 2
		}
		b, err := os.ReadFile(*p)
		if err != nil {
			fmt.Fprintln(stderr, "wsbench clustercmp:", err)
			return 1
		}
		var r Report
		if err := json.Unmarshal(b, &r); err != nil {
			fmt.Fprintf(stderr, "wsbench clustercmp: %s: %v\n", *p, err)
			return 1
		}
		reps[k] = &r
	}
	var b strings.Builder
	writeClusterCmp(&b, reps["single-connect"], reps["single-rooms"], reps["cluster-connect"], reps["cluster-rooms"])
	if *out == "" {
		_, _ = io.WriteString(stdout, b.String())
		return 0
	}
	if err := os.WriteFile(*out, []byte(b.String()), 0o644); err != nil {
		fmt.Fprintln(stderr, "wsbench clustercmp:", err)
		return 1
	}
	return 0
}

func writeClusterCmp(w io.Writer, sc, sr, cc, cr *Report) {
	met := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "**no**"
	}
	ratio := func(a, b float64) float64 {
		if a == 0 {
			return 0
		}
		return b / a
	}
	connRatio := ratio(sc.Figures.ConnectPerSec, cc.Figures.ConnectPerSec)
	cpuRatio := ratio(sr.Figures.NodeUsPerDeliv, cr.Figures.NodeUsPerDeliv)
	rows := [][]string{
		{"connects/s", f0(sc.Figures.ConnectPerSec), f0(cc.Figures.ConnectPerSec), fmt.Sprintf("%.2f×", connRatio), "≥ 0.8×", met(connRatio >= 0.8)},
		{"node CPU per connect (µs)", f1(sc.Figures.NodeUsPerConn), f1(cc.Figures.NodeUsPerConn), fmt.Sprintf("%.2f×", ratio(sc.Figures.NodeUsPerConn, cc.Figures.NodeUsPerConn)), "", "—"},
		{"rooms-30k node CPU per delivery (µs)", f1(sr.Figures.NodeUsPerDeliv), f1(cr.Figures.NodeUsPerDeliv), fmt.Sprintf("%.2f×", cpuRatio), "≤ 1.1×", met(cpuRatio <= 1.1)},
		{"rooms-30k latency p99 (ms)", f2(sr.Figures.Latency.P99), f2(cr.Figures.Latency.P99), "", "≤ 5 ms", met(cr.Figures.Latency.P99 <= 5)},
		{"rooms-30k lost", fmt.Sprint(sr.Figures.Lost), fmt.Sprint(cr.Figures.Lost), "", "0", met(cr.Figures.Lost == 0)},
	}
	for _, p := range []struct {
		name string
		s, c *Report
	}{{"rooms-30k", sr, cr}, {"connect", sc, cc}} {
		if p.s.Redis != nil && p.c.Redis != nil {
			rows = append(rows, []string{p.name + " Redis CPU (s) and commands, all primaries",
				fmt.Sprintf("%.2f, %d", p.s.Redis.CPU, p.s.Redis.Total), fmt.Sprintf("%.2f, %d", p.c.Redis.CPU, p.c.Redis.Total), "", "", "—"})
		}
	}
	fmt.Fprintln(w, "## Redis Cluster against one Redis")
	fmt.Fprintln(w)
	table(w, []string{"what", "single", "cluster", "cluster / single", "target", "met"}, rows)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Each primary's share of the cluster runs (imbalance: the busiest primary against the mean):")
	fmt.Fprintln(w)
	var shardRows [][]string
	for _, p := range []struct {
		name string
		r    *Report
	}{{"connect", cc}, {"rooms-30k", cr}} {
		if p.r.Redis == nil || len(p.r.Redis.Shards) == 0 {
			continue
		}
		sh := p.r.Redis.Shards
		var cmds, cpus []float64
		for _, s := range sh {
			cmds = append(cmds, float64(s.Commands))
			cpus = append(cpus, s.CPU)
			shardRows = append(shardRows, []string{p.name, s.Addr, fmt.Sprint(s.Commands), f2(s.CPU)})
		}
		shardRows = append(shardRows, []string{p.name, "imbalance (max / mean)",
			fmt.Sprintf("%.2f", imbalance(cmds)), fmt.Sprintf("%.2f", imbalance(cpus))})
	}
	table(w, []string{"run", "primary", "commands", "CPU (s)"}, shardRows)
}

// imbalance is max/mean of v (0 for an empty or all-zero v).
func imbalance(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	var sum float64
	for _, x := range v {
		sum += x
	}
	if sum == 0 {
		return 0
	}
	return slices.Max(v) / (sum / float64(len(v)))
}

func f0(v float64) string { return fmt.Sprintf("%.0f", v) }
func f1(v float64) string { return fmt.Sprintf("%.1f", v) }
func f2(v float64) string { return fmt.Sprintf("%.2f", v) }
