package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestChurnCountsFromOffsets: a receiver counts a gap in the offsets as
// loss, an offset seen again as a duplicate, and a join that could not
// recover apart from both.
func TestChurnCountsFromOffsets(t *testing.T) {
	st := &churnStats{}
	r := &churnReceiver{st: st}
	yes, no := true, false
	r.onJoined(churnFrame{Type: "joined", Offset: 4, Epoch: "e1"}) // first join: from offset 4
	for _, o := range []int64{5, 6, 6, 9} {                        // a duplicate 6, then 7 and 8 missing
		r.onMessage(churnFrame{Type: "message", Offset: o, Epoch: "e1"})
	}
	r.onJoined(churnFrame{Type: "joined", Offset: 12, Epoch: "e1", Recovered: &yes}) // the replay follows
	r.onMessage(churnFrame{Type: "message", Offset: 10, Epoch: "e1"})
	r.onJoined(churnFrame{Type: "joined", Offset: 40, Epoch: "e1", Recovered: &no}) // trimmed: start again at 40
	r.onMessage(churnFrame{Type: "message", Offset: 41, Epoch: "e1"})
	got := fmt.Sprint(st.delivered.Load(), st.lost.Load(), st.dups.Load(), st.recovered.Load(), st.unrecovered.Load(), st.reconnects.Load())
	if want := "5 2 1 1 1 2"; got != want {
		t.Fatalf("delivered lost dups recovered unrecoverable reconnects = %s, want %s", got, want)
	}
	if r.offset != 41 {
		t.Fatalf("last offset %d, want 41", r.offset)
	}

	// Joined before the room had history (no epoch): the first message
	// tells the epoch, so the next join recovers and a gap counts as loss.
	st2 := &churnStats{}
	e := &churnReceiver{st: st2}
	e.onJoined(churnFrame{Type: "joined"})
	e.onMessage(churnFrame{Type: "message", Offset: 1, Epoch: "e2"})
	if e.epoch != "e2" {
		t.Fatalf("epoch after the first message %q", e.epoch)
	}
	e.onJoined(churnFrame{Type: "joined", Offset: 5, Epoch: "e2", Recovered: &yes})
	e.onMessage(churnFrame{Type: "message", Offset: 3, Epoch: "e2"})
	if st2.recovered.Load() != 1 || st2.lost.Load() != 1 {
		t.Fatalf("recovered %d lost %d, want 1 and 1", st2.recovered.Load(), st2.lost.Load())
	}
}

// TestSoakplotFlatness: totals within the limit pass, a leak fails, and
// samples where a node did not answer are left out.
func TestSoakplotFlatness(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, goroutines func(t int) int) string {
		var b strings.Builder
		for ts := 0; ts <= 600; ts += 10 {
			for n := 1; n <= 3; n++ {
				if ts == 300 && n == 2 {
					continue // restarting: no answer
				}
				fmt.Fprintf(&b, "%d goroutines n%d %d\n%d heap_mib n%d %.1f\n", ts, n, goroutines(ts), ts, n, 20.0+float64(ts%60)/10)
			}
			fmt.Fprintf(&b, "%d deliveries all 5000\n", ts)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	flat := write("flat.tsv", func(int) int { return 1000 })
	leak := write("leak.tsv", func(ts int) int { return 1000 + 2*ts })
	var out, errb bytes.Buffer
	svg := filepath.Join(dir, "s.svg")
	if code := run([]string{"soakplot", "-o", svg, flat}, &out, &errb); code != 0 {
		t.Fatalf("flat samples: exit %d\n%s%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "goroutines (cluster total): 3000.0 in the minute from 120 s, 3000.0 in the last minute (+0.0 %), flat") {
		t.Fatalf("output %q", out.String())
	}
	out.Reset()
	if code := run([]string{"soakplot", "-o", svg, leak}, &out, &errb); code != 1 || !strings.Contains(out.String(), "NOT flat") {
		t.Fatalf("leaking samples: exit %d, output %q", code, out.String())
	}
	if b, err := os.ReadFile(svg); err != nil || !bytes.Contains(b, []byte("<polyline")) {
		t.Fatalf("svg: %v", err)
	}
}
