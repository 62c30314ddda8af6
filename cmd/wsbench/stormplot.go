package main

import (
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
)

// stormplotMain is "wsbench stormplot": the SVG of one or more storm
// results (rejoins/s and the undisturbed deliveries' p99 per 100 ms, from
// 2 s before the drain signal) and, on stdout, a markdown table of their
// figures.
//
//	wsbench stormplot -o bench/storm.svg jitter=a.json "no jitter=b.json"
func stormplotMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wsbench stormplot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "write the SVG here (required)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *out == "" || fs.NArg() == 0 {
		fmt.Fprintln(stderr, "usage: wsbench stormplot -o OUT.svg [LABEL=]STORM.json ...")
		return 2
	}
	var rs []*stormResult
	for _, arg := range fs.Args() {
		label, path, ok := strings.Cut(arg, "=")
		if !ok {
			label, path = "", arg
		}
		b, err := os.ReadFile(path)
		r := &stormResult{}
		if err == nil {
			err = json.Unmarshal(b, r)
		}
		if err != nil {
			fmt.Fprintln(stderr, "wsbench stormplot:", err)
			return 1
		}
		if label != "" {
			r.Label = label
		}
		rs = append(rs, r)
	}
	stormTable(stdout, rs)
	f, err := os.Create(*out)
	if err == nil {
		writeStormSVG(f, rs)
		err = f.Close()
	}
	if err != nil {
		fmt.Fprintln(stderr, "wsbench stormplot:", err)
		return 1
	}
	return 0
}

// stormTable writes one column per result.
func stormTable(w io.Writer, rs []*stormResult) {
	row := func(name string, f func(r *stormResult) string) {
		fmt.Fprintf(w, "| %s |", name)
		for _, r := range rs {
			fmt.Fprintf(w, " %s |", f(r))
		}
		fmt.Fprintln(w)
	}
	row("", func(r *stormResult) string { return r.Label })
	row("---", func(*stormResult) string { return "---" })
	row("jitter before reconnect", func(r *stormResult) string {
		if r.JitterMS == 0 {
			return "none"
		}
		return fmt.Sprintf("0–%.0f ms", r.JitterMS)
	})
	row("drained sockets ended p50 / max (with 1001)", func(r *stormResult) string {
		return fmt.Sprintf("%.0f / %.0f ms (%d)", r.Closed.P50MS, r.Closed.MaxMS, r.Closed1001)
	})
	row("drained clients back", func(r *stormResult) string { return fmt.Sprintf("%d of %d", r.Rejoin.N, r.Drained) })
	row("back after signal p50 / p99 / max", func(r *stormResult) string {
		return fmt.Sprintf("%.0f / %.0f / %.0f ms", r.Rejoin.P50MS, r.Rejoin.P99MS, r.Rejoin.MaxMS)
	})
	row("back after their socket's end p50 / p99 / max", func(r *stormResult) string {
		return fmt.Sprintf("%.0f / %.0f / %.0f ms", r.Reconnect.P50MS, r.Reconnect.P99MS, r.Reconnect.MaxMS)
	})
	row("not back in time / other errors (kinds)", func(r *stormResult) string {
		kinds := ""
		if len(r.ErrorKinds) > 0 {
			kinds = " (" + fmtKinds(r.ErrorKinds) + ")"
		}
		return fmt.Sprintf("%d / %d%s", r.NotBack, r.OtherErrors, kinds)
	})
	row("HTTP 503s / retries", func(r *stormResult) string { return fmt.Sprintf("%d / %d", r.N503, r.Retries) })
	row("unexpected closes (an undisturbed client, or before the drain)", func(r *stormResult) string { return fmt.Sprint(r.UndisturbedCloses) })
	row("storm window (signal to last rejoin + 1 s)", func(r *stormResult) string { return fmt.Sprintf("%.2f s", r.WindowS) })
	row("undisturbed deliveries p99 before drain", func(r *stormResult) string {
		return fmt.Sprintf("%.1f ms (%d)", r.Baseline.P99MS, r.Baseline.N)
	})
	row("undisturbed deliveries in window p50 / p99 / max (n, missing at the end)", func(r *stormResult) string {
		return fmt.Sprintf("%.1f / %.1f / %.1f ms (%d, %d missing)", r.Storm.P50MS, r.Storm.P99MS, r.Storm.MaxMS, r.Storm.N, r.StormMissing)
	})
	row("the same timed from the node's ts p50 / p99 / max (without the generator's send lag)", func(r *stormResult) string {
		return fmt.Sprintf("%.1f / %.1f / %.1f ms", r.StormFromNode.P50MS, r.StormFromNode.P99MS, r.StormFromNode.MaxMS)
	})
	row("generator's send lag in window p50 / p99 / max", func(r *stormResult) string {
		return fmt.Sprintf("%.1f / %.1f / %.1f ms", r.StormSendLag.P50MS, r.StormSendLag.P99MS, r.StormSendLag.MaxMS)
	})
	row("undisturbed p99 in window, per survivor", func(r *stormResult) string {
		var s []string
		for _, d := range r.StormByNode {
			s = append(s, fmt.Sprintf("%.1f", d.P99MS))
		}
		return strings.Join(s, " / ") + " ms"
	})
	row("survivors' CPU in window (cores)", func(r *stormResult) string { return joinFloats(r.NodeCPU, " + ") })
	row("Redis / generator CPU, machine idle (cores)", func(r *stormResult) string {
		return fmt.Sprintf("%.2f / %.2f, idle %.2f", r.RedisCPU, r.GenCPU, r.IdleCPU)
	})
	row("threads waiting for a CPU, survivors / generator (s per s), in window (baseline)", func(r *stormResult) string {
		return fmt.Sprintf("%s / %.2f (%s / %.2f)", joinFloats(r.NodeRunWait, " + "), r.GenRunWait, joinFloats(r.BaseNodeRunWait, " + "), r.BaseGenRunWait)
	})
	row("targets", func(r *stormResult) string { return strings.Join(r.Targets, "; ") })
}

// writeStormSVG draws two panels over seconds from the signal: rejoins/s
// (and 503s/s, dashed) and the undisturbed p99 per 100 ms.
func writeStormSVG(w io.Writer, rs []*stormResult) {
	const width, panel, left, right, top, bottom = 900.0, 260.0, 70.0, 20.0, 40.0, 40.0
	fromS, toS, topRate, topMS := 0.0, 1.0, 10.0, 20.0
	for _, r := range rs {
		s := r.Series
		fromS = min(fromS, s.FromS)
		toS = max(toS, s.FromS+float64(int64(len(s.Connects))*s.StepMS)/1000)
		for i := range s.Connects {
			perS := 1000 / float64(s.StepMS)
			topRate = max(topRate, float64(s.Connects[i])*perS, float64(s.Refused[i])*perS)
			topMS = max(topMS, s.P99MS[i])
		}
	}
	topRate, topMS = niceCeil(topRate), niceCeil(topMS)
	x := func(sec float64) float64 { return left + (sec-fromS)/(toS-fromS)*(width-left-right) }
	svgStart(w, width, 2*panel+top)
	svgText(w, left, 20, ` font-size="14"`, "reconnect storm: one of three nodes drained at 0 s")
	panels := []struct {
		title, unit string
		top         float64
	}{{"rejoins/s (dashed: HTTP 503/s)", "/s", topRate}, {"p99 of deliveries to never-disconnected clients, per 100 ms", " ms", topMS}}
	for p, pn := range panels {
		y0 := top + float64(p)*panel
		y := func(v float64) float64 { return y0 + panel - bottom - v/pn.top*(panel-bottom-20) }
		svgText(w, left, y0+10, "", pn.title)
		for i := 0; i <= 4; i++ {
			v := pn.top * float64(i) / 4
			svgGridLine(w, left, width-right, y(v), fmt.Sprintf("%g%s", v, pn.unit))
		}
		for sec := niceCeil((toS-fromS)/10) * float64(int(fromS/niceCeil((toS-fromS)/10))); sec <= toS; sec += niceCeil((toS - fromS) / 10) {
			svgText(w, x(sec), y0+panel-bottom+16, ` text-anchor="middle"`, fmt.Sprintf("%gs", sec))
		}
		fmt.Fprintf(w, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#888" stroke-dasharray="4 3"/>`+"\n", x(0), x(0), y0+20, y0+panel-bottom)
		for k, r := range rs {
			s := r.Series
			perS := 1000 / float64(s.StepMS)
			var pts, refused [][2]float64
			for i := range s.Connects {
				t := s.FromS + float64(int64(i)*s.StepMS)/1000
				switch {
				case p == 0:
					pts = append(pts, [2]float64{x(t), y(float64(s.Connects[i]) * perS)})
					refused = append(refused, [2]float64{x(t), y(float64(s.Refused[i]) * perS)})
				case s.P99MS[i] >= 0:
					pts = append(pts, [2]float64{x(t), y(s.P99MS[i])})
				}
			}
			svgSeries(w, k, pts, width-right-220, y0+28+14*float64(k), r.Label)
			if p == 0 && r.N503 > 0 {
				svgDashed(w, k, refused)
			}
		}
	}
	svgEnd(w)
}

// svgDashed draws pts as a dashed line in the k-th plot color, no legend.
func svgDashed(w io.Writer, k int, pts [][2]float64) {
	var b strings.Builder
	for _, p := range pts {
		fmt.Fprintf(&b, "%.1f,%.1f ", p[0], p[1])
	}
	fmt.Fprintf(w, `<polyline fill="none" stroke="%s" stroke-width="1" stroke-dasharray="3 2" points="%s"/>`+"\n",
		plotColors[k%len(plotColors)], strings.TrimSpace(b.String()))
}

// fmtKinds lists error counts by kind, most frequent first.
func fmtKinds(m map[string]int64) string {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return cmp.Compare(m[b], m[a])
		}
		return strings.Compare(a, b)
	})
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// joinFloats formats vs with two decimals, joined by sep.
func joinFloats(vs []float64, sep string) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = fmt.Sprintf("%.2f", v)
	}
	return strings.Join(s, sep)
}
