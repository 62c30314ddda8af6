package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// capacityRuns are the runs of one Redis topology that "wsbench capacity"
// reads from a directory, by file name.
var capacityRuns = []struct{ file, op, unit string }{
	{"connect-nojoin.json", "connect (dial, welcome, auth; no room)", "connect"},
	{"connect.json", "join (connect with one join, minus connect without)", "join"},
	{"rooms.json", "room message, rooms of 100", "message"},
	{"small-rooms.json", "room message, rooms of 1", "message"},
	{"small-direct.json", "direct message", "message"},
}

// capacityMain renders the Redis cost per operation of one or more Redis
// topologies side by side:
//
//	wsbench capacity [-o FILE] single=DIR cluster=DIR
//
// Each DIR holds the JSON results of bench/redis-tier.sh's runs. Redis CPU
// is used_cpu_user+used_cpu_sys summed over every primary during the
// run's window; commands are INFO commandstats calls.
func capacityMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("capacity", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "write the markdown here instead of stdout")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "wsbench capacity: give NAME=DIR arguments")
		return 2
	}
	var cols []capacityColumn
	for _, a := range fs.Args() {
		name, dir, ok := strings.Cut(a, "=")
		if !ok {
			fmt.Fprintf(stderr, "wsbench capacity: %q is not NAME=DIR\n", a)
			return 2
		}
		col, err := readCapacity(name, dir)
		if err != nil {
			fmt.Fprintln(stderr, "wsbench capacity:", err)
			return 1
		}
		cols = append(cols, col)
	}
	md := renderCapacity(cols)
	if *out == "" {
		_, _ = io.WriteString(stdout, md)
		return 0
	}
	if err := os.WriteFile(*out, []byte(md), 0o644); err != nil {
		fmt.Fprintln(stderr, "wsbench capacity:", err)
		return 1
	}
	return 0
}

// capacityColumn is one topology's cost per operation.
type capacityColumn struct {
	name string
	// per run index of capacityRuns: Redis µs, Redis commands and node µs
	// per unit; ok is false where the run is missing.
	redisUs, cmds, nodeUs []float64
	ok                    []bool
}

func readCapacity(name, dir string) (capacityColumn, error) {
	col := capacityColumn{name: name}
	reps := make([]*Report, len(capacityRuns))
	for i, r := range capacityRuns {
		b, err := os.ReadFile(filepath.Join(dir, r.file))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return col, err
		}
		var rep Report
		if err := json.Unmarshal(b, &rep); err != nil {
			return col, fmt.Errorf("%s: %w", r.file, err)
		}
		if rep.Redis == nil {
			return col, fmt.Errorf("%s: no Redis figures (run wsbench with -redis-url)", r.file)
		}
		reps[i] = &rep
	}
	col.redisUs = make([]float64, len(capacityRuns))
	col.cmds = make([]float64, len(capacityRuns))
	col.nodeUs = make([]float64, len(capacityRuns))
	col.ok = make([]bool, len(capacityRuns))
	for i, r := range capacityRuns {
		rep := reps[i]
		if rep == nil {
			continue
		}
		units := rep.Figures.MessagesSent
		if r.unit != "message" {
			units = rep.Figures.Connected
		}
		if units <= 0 {
			continue
		}
		col.redisUs[i] = rep.Redis.CPU / float64(units) * 1e6
		col.cmds[i] = float64(rep.Redis.Total) / float64(units)
		col.nodeUs[i] = rep.Figures.NodeCPU / float64(units) * 1e6
		col.ok[i] = true
	}
	// A join is what a connect with a join costs beyond one without.
	if col.ok[0] && col.ok[1] {
		col.redisUs[1] -= col.redisUs[0]
		col.cmds[1] -= col.cmds[0]
		col.nodeUs[1] -= col.nodeUs[0]
	} else {
		col.ok[1] = false
	}
	return col, nil
}

func renderCapacity(cols []capacityColumn) string {
	var b strings.Builder
	b.WriteString("| operation |")
	for _, c := range cols {
		fmt.Fprintf(&b, " %s: Redis CPU µs | %s: Redis commands | %s: node CPU µs |", c.name, c.name, c.name)
	}
	b.WriteString("\n| --- |")
	for range cols {
		b.WriteString(" ---: | ---: | ---: |")
	}
	b.WriteString("\n")
	for i, r := range capacityRuns {
		fmt.Fprintf(&b, "| %s |", r.op)
		for _, c := range cols {
			if !c.ok[i] {
				b.WriteString(" – | – | – |")
				continue
			}
			fmt.Fprintf(&b, " %.1f | %.2f | %.1f |", c.redisUs[i], c.cmds[i], c.nodeUs[i])
		}
		b.WriteString("\n")
	}
	return b.String()
}
