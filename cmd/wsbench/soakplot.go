package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// soakplotMain is "wsbench soakplot": bench/soak.sh's samples (lines of
// "seconds kind node value", kind one of goroutines, heap_mib, deliveries)
// drawn as one SVG panel per kind and a line per node, plus on stdout the
// flatness check: the cluster's total goroutines at each sample where every
// node answered, and the lowest total heap of each minute (the heap after
// GC, not its saw-tooth), in the minute from -from seconds against the last
// minute.
func soakplotMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wsbench soakplot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "write the SVG here (required)")
	from := fs.Float64("from", 120, "check flatness from this many seconds on")
	nodes := fs.Int("nodes", 3, "nodes that must all answer for a sample to count")
	limit := fs.Float64("limit", 10, "largest allowed deviation from the median, per cent")
	if err := fs.Parse(args); err != nil || *out == "" || fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: wsbench soakplot -o OUT.svg [-from 120] [-nodes 3] [-limit 10] SAMPLES.tsv")
		return 2
	}
	samples, err := readSamples(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "wsbench soakplot:", err)
		return 1
	}
	ok := true
	for _, k := range []struct {
		kind   string
		minute bool
	}{{"goroutines", false}, {"heap_mib", true}} {
		ok = reportFlatness(stdout, k.kind, clusterTotals(samples[k.kind], *nodes, k.minute), *from, *limit) && ok
	}
	f, err := os.Create(*out)
	if err == nil {
		writeSoakSVG(f, samples)
		err = f.Close()
	}
	if err != nil {
		fmt.Fprintln(stderr, "wsbench soakplot:", err)
		return 1
	}
	if !ok {
		return 1
	}
	return 0
}

type sample struct {
	t     float64
	node  string
	value float64
}

func readSamples(path string) (map[string][]sample, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string][]sample{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) != 4 {
			continue
		}
		t, err1 := strconv.ParseFloat(fields[0], 64)
		v, err2 := strconv.ParseFloat(fields[3], 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s:%d: %q", path, line, sc.Text())
		}
		out[fields[1]] = append(out[fields[1]], sample{t: t, node: fields[2], value: v})
	}
	return out, sc.Err()
}

// clusterTotals sums the nodes' values per sample time, keeping only times
// where all nodes answered; with perMinute, the lowest total of each minute.
func clusterTotals(ss []sample, nodes int, perMinute bool) []sample {
	sum, count := map[float64]float64{}, map[float64]int{}
	for _, s := range ss {
		sum[s.t] += s.value
		count[s.t]++
	}
	var out []sample
	for t, v := range sum {
		if count[t] >= nodes {
			out = append(out, sample{t: t, value: v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].t < out[j].t })
	if !perMinute {
		return out
	}
	var mins []sample
	for _, s := range out {
		m := float64(int(s.t/60) * 60)
		if n := len(mins); n > 0 && mins[n-1].t == m {
			mins[n-1].value = min(mins[n-1].value, s.value)
		} else {
			mins = append(mins, sample{t: m, value: s.value})
		}
	}
	return mins
}

// reportFlatness compares the totals of the first minute from `from` on
// (minute 2 by default) with those of the last minute: a leak grows from
// one to the other; more than limit per cent apart fails. It also prints
// the range over the whole period, where a restarted node's fresh process
// shows as a dip, not as a leak.
func reportFlatness(w io.Writer, kind string, totals []sample, from, limit float64) bool {
	var first, last, all []float64
	end := 0.0
	for _, s := range totals {
		end = max(end, s.t)
	}
	for _, s := range totals {
		if s.t < from {
			continue
		}
		all = append(all, s.value)
		if s.t < from+60 {
			first = append(first, s.value)
		}
		if s.t > end-60 {
			last = append(last, s.value)
		}
	}
	if len(first) == 0 || len(last) == 0 || end-from < 120 {
		fmt.Fprintf(w, "%s: too short a run after %.0f s to compare two minutes\n", kind, from)
		return false
	}
	a, z := median(first), median(last)
	dev := math.Abs(z-a) / a * 100
	ok := dev <= limit
	verdict := "flat"
	if !ok {
		verdict = "NOT flat"
	}
	fmt.Fprintf(w, "%s (cluster total): %.1f in the minute from %.0f s, %.1f in the last minute (%+.1f %%), %s (limit %.0f %%); range %.1f-%.1f over %d samples\n",
		kind, a, from, z, (z-a)/a*100, verdict, limit, slices.Min(all), slices.Max(all), len(all))
	return ok
}

func median(vs []float64) float64 {
	s := slices.Sorted(slices.Values(vs))
	return s[len(s)/2]
}

// writeSoakSVG draws one panel per kind, one line per node.
func writeSoakSVG(w io.Writer, samples map[string][]sample) {
	kinds := []string{"goroutines", "heap_mib", "deliveries"}
	const width, panel, left, right, top = 900.0, 220.0, 70.0, 20.0, 30.0
	svgStart(w, width, top+panel*float64(len(kinds)))
	span := 1.0
	for _, ss := range samples {
		for _, s := range ss {
			span = max(span, s.t)
		}
	}
	for k, kind := range kinds {
		y0 := top + panel*float64(k)
		byNode := map[string][]sample{}
		hi := 1.0
		for _, s := range samples[kind] {
			byNode[s.node] = append(byNode[s.node], s)
			hi = max(hi, s.value)
		}
		hi = niceCeil(hi)
		x := func(t float64) float64 { return left + t/span*(width-left-right) }
		y := func(v float64) float64 { return y0 + panel - 30 - v/hi*(panel-60) }
		svgText(w, left, y0+16, ` font-size="14"`, kind)
		for i := 0; i <= 2; i++ {
			v := hi * float64(i) / 2
			svgGridLine(w, left, width-right, y(v), fmt.Sprintf("%g", v))
		}
		for i, n := range slices.Sorted(maps.Keys(byNode)) {
			pts := make([][2]float64, len(byNode[n]))
			for j, s := range byNode[n] {
				pts[j] = [2]float64{x(s.t), y(s.value)}
			}
			svgSeries(w, i, pts, width-right-60, y0+16+14*float64(i), n)
		}
		svgText(w, width-right, y0+panel-12, ` text-anchor="end"`, fmt.Sprintf("%.0f s", span))
	}
	svgEnd(w)
}
