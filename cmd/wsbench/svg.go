package main

import (
	"fmt"
	"html"
	"io"
	"strings"
)

// The SVG pieces that "wsbench plot" and "wsbench soakplot" draw with.

var plotColors = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"}

// svgStart opens a white SVG canvas; the caller closes it with svgEnd.
func svgStart(w io.Writer, width, height float64) {
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintln(w, `<rect width="100%" height="100%" fill="white"/>`)
}

func svgEnd(w io.Writer) { fmt.Fprintln(w, "</svg>") }

// svgText writes escaped text at x, y with the given extra attributes.
func svgText(w io.Writer, x, y float64, attrs, text string) {
	fmt.Fprintf(w, `<text x="%.1f" y="%.1f"%s>%s</text>`+"\n", x, y, attrs, html.EscapeString(text))
}

// svgGridLine is a light horizontal line from x1 to x2 at y, labelled at
// its left end.
func svgGridLine(w io.Writer, x1, x2, y float64, label string) {
	fmt.Fprintf(w, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x1, x2, y, y)
	svgText(w, x1-4, y+4, ` text-anchor="end"`, label)
}

// svgSeries draws one line through pts (x, y pairs on the canvas) and its
// legend entry at lx, ly, in the k-th plot color.
func svgSeries(w io.Writer, k int, pts [][2]float64, lx, ly float64, label string) {
	color := plotColors[k%len(plotColors)]
	var b strings.Builder
	for _, p := range pts {
		fmt.Fprintf(&b, "%.1f,%.1f ", p[0], p[1])
	}
	fmt.Fprintf(w, `<polyline fill="none" stroke="%s" stroke-width="1.2" points="%s"/>`+"\n", color, strings.TrimSpace(b.String()))
	svgText(w, lx, ly, ` fill="`+color+`"`, label)
}
