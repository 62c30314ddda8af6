package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// plotMain is "wsbench plot": an SVG of the worst latency per 100 ms slice
// of one or more runs (their -out JSON), one line each, and on stdout the
// slices that exceed -mark.
//
//	wsbench plot -o small.svg -title "small rooms" before=a.json after=b.json
func plotMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wsbench plot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "write the SVG here (required)")
	title := fs.String("title", "worst latency per 100 ms", "the plot's title")
	mark := fs.Float64("mark", 15, "list the slices whose worst latency exceeds this many ms")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *out == "" || fs.NArg() == 0 {
		fmt.Fprintln(stderr, "usage: wsbench plot -o OUT.svg [-title T] [-mark MS] [LABEL=]RESULT.json ...")
		return 2
	}
	var series []plotSeries
	for _, arg := range fs.Args() {
		label, path, ok := strings.Cut(arg, "=")
		if !ok {
			label, path = arg, arg
		}
		reps, err := loadReports([]string{path})
		if err != nil {
			fmt.Fprintln(stderr, "wsbench plot:", err)
			return 1
		}
		tl := reps[0].Result.Timeline
		if tl == nil || len(tl.Worst) == 0 {
			fmt.Fprintf(stderr, "wsbench plot: %s has no timeline (a rooms or direct run of this wsbench)\n", path)
			return 1
		}
		series = append(series, plotSeries{label: label, tl: tl})
		printSpikes(stdout, label, tl, *mark)
	}
	f, err := os.Create(*out)
	if err == nil {
		writeSVG(f, *title, series, *mark)
		err = f.Close()
	}
	if err != nil {
		fmt.Fprintln(stderr, "wsbench plot:", err)
		return 1
	}
	return 0
}

type plotSeries struct {
	label string
	tl    *TimelineSnapshot
}

// printSpikes lists the slices of tl worse than mark ms, with their offset
// into the window, so that a periodic stall shows as a regular spacing.
func printSpikes(w io.Writer, label string, tl *TimelineSnapshot, mark float64) {
	var at []string
	for i, v := range tl.Worst {
		if ms := float64(v) / 1e6; ms > mark {
			at = append(at, fmt.Sprintf("%.1fs:%.0fms", float64(int64(i)*tl.StepMS)/1000, ms))
		}
	}
	fmt.Fprintf(w, "%s: %d of %d slices worse than %g ms %s\n", label, len(at), len(tl.Worst), mark, strings.Join(at, " "))
}

// writeSVG draws the series on a linear millisecond axis that always shows
// the mark, with a dashed line at it.
func writeSVG(w io.Writer, title string, series []plotSeries, mark float64) {
	const width, height, left, right, top, bottom = 900.0, 360.0, 60.0, 20.0, 40.0, 40.0
	var topMS, span float64 = mark * 2, 0
	for _, s := range series {
		for _, v := range s.tl.Worst {
			topMS = max(topMS, float64(v)/1e6)
		}
		span = max(span, float64(int64(len(s.tl.Worst))*s.tl.StepMS)/1000)
	}
	topMS = niceCeil(topMS)
	x := func(sec float64) float64 { return left + sec/span*(width-left-right) }
	y := func(ms float64) float64 { return height - bottom - ms/topMS*(height-top-bottom) }
	svgStart(w, width, height)
	svgText(w, left, 20, ` font-size="14"`, title)
	for i := 0; i <= 4; i++ {
		ms := topMS * float64(i) / 4
		svgGridLine(w, left, width-right, y(ms), fmt.Sprintf("%g ms", ms))
	}
	for sec := 0.0; sec <= span; sec += niceCeil(span / 10) {
		svgText(w, x(sec), height-bottom+16, ` text-anchor="middle"`, fmt.Sprintf("%gs", sec))
	}
	fmt.Fprintf(w, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#888" stroke-dasharray="4 3"/>`+"\n", left, width-right, y(mark), y(mark))
	for k, s := range series {
		var pts [][2]float64
		for i, v := range s.tl.Worst {
			if s.tl.Count[i] > 0 {
				pts = append(pts, [2]float64{x(float64(int64(i)*s.tl.StepMS) / 1000), y(float64(v) / 1e6)})
			}
		}
		svgSeries(w, k, pts, width-right-200, top+14*float64(k+1), s.label)
	}
	svgEnd(w)
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := 1.0
	for p*10 <= v {
		p *= 10
	}
	for p > v {
		p /= 10
	}
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}
