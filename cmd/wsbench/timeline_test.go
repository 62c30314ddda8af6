package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTimelineKeepsWorstPerSlice(t *testing.T) {
	from := int64(1_000_000_000)
	tl := NewTimeline(from, time.Second)
	ms := int64(time.Millisecond)
	tl.Record(from+10*ms, 2*ms)
	tl.Record(from+20*ms, 7*ms)
	tl.Record(from+30*ms, 3*ms)
	tl.Record(from+250*ms, 40*ms)
	tl.Record(from-ms, 900*ms)             // before the window: ignored
	tl.Record(from+int64(time.Second), ms) // past the span: ignored
	s := tl.Snapshot()
	if len(s.Worst) != 10 || s.StepMS != 100 {
		t.Fatalf("got %d slices of %d ms, want 10 of 100", len(s.Worst), s.StepMS)
	}
	if s.Worst[0] != 7*ms || s.Count[0] != 3 || s.Worst[2] != 40*ms || s.Count[2] != 1 || s.Count[1] != 0 {
		t.Fatalf("worst %v count %v", s.Worst, s.Count)
	}
	o := NewTimeline(from, time.Second)
	o.Record(from+20*ms, 9*ms)
	m := s.Merge(o.Snapshot())
	if m.Worst[0] != 9*ms || m.Count[0] != 4 || m.Worst[2] != 40*ms {
		t.Fatalf("merged worst %v count %v", m.Worst, m.Count)
	}
	if got := (*TimelineSnapshot)(nil).Merge(o.Snapshot()); got.Worst[0] != 9*ms {
		t.Fatalf("merge into nil: %v", got.Worst)
	}
}

func TestPlotWritesSVGAndListsSpikes(t *testing.T) {
	dir := t.TempDir()
	tl := NewTimeline(0, time.Second)
	tl.Record(int64(150*time.Millisecond), int64(62*time.Millisecond))
	tl.Record(int64(550*time.Millisecond), int64(time.Millisecond))
	rep := &Report{Scenario: scRooms, Result: &WorkerResult{Timeline: tl.Snapshot()}}
	in := filepath.Join(dir, "r.json")
	if err := writeJSON(in, rep); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "p.svg")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"plot", "-o", out, "before=" + in}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if want := "before: 1 of 10 slices worse than 15 ms 0.1s:62ms"; !strings.Contains(stdout.String(), want) {
		t.Fatalf("stdout %q lacks %q", stdout.String(), want)
	}
	svg, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(svg, []byte("<svg")) || !bytes.Contains(svg, []byte("<polyline")) || !bytes.Contains(svg, []byte(">before<")) {
		t.Fatalf("not the expected SVG:\n%s", svg)
	}
	if code := run([]string{"plot", "-o", out, filepath.Join(dir, "missing.json")}, &stdout, &stderr); code == 0 {
		t.Fatal("a missing input did not fail")
	}
}
