package main

import (
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// The parts of "wsbench storm" that need no cluster: the reconnect-delay
// policy, the summaries and the per-100 ms series.

// stormStep is the width of one slice of the storm's series.
const stormStep = 100 * time.Millisecond

// fullJitter is the delay before a reconnect after a 1001 close: uniform in
// [0, jitter), or none when jitter is 0 (the unjittered variant).
func fullJitter(jitter time.Duration, rng *rand.Rand) time.Duration {
	if jitter <= 0 {
		return 0
	}
	return time.Duration(rng.Int64N(int64(jitter)))
}

// retryAfter is the delay before retrying a refused dial: for a 503, the
// response's Retry-After seconds (1 s when missing or unreadable) plus a
// uniform 0-1 s, as docs/protocol.md asks; any other failure waits 1 s plus
// the same jitter.
func retryAfter(resp *http.Response, rng *rand.Rand) time.Duration {
	base := time.Second
	if resp != nil {
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
			base = time.Duration(s) * time.Second
		}
	}
	return base + fullJitter(time.Second, rng)
}

// durStats is p50, p99 and max of a set of durations, in milliseconds
// (nearest rank), and how many there were.
type durStats struct {
	N     int     `json:"n"`
	P50MS float64 `json:"p50_ms"`
	P99MS float64 `json:"p99_ms"`
	MaxMS float64 `json:"max_ms"`
}

// summarize computes durStats of ds (nanoseconds); ds is sorted in place.
func summarize(ds []int64) durStats {
	if len(ds) == 0 {
		return durStats{}
	}
	slices.Sort(ds)
	ms := func(v int64) float64 { return math.Round(float64(v)/1e4) / 100 }
	return durStats{N: len(ds), P50MS: ms(nearestRank(ds, 0.50)), P99MS: ms(nearestRank(ds, 0.99)), MaxMS: ms(ds[len(ds)-1])}
}

// nearestRank is the q-quantile of sorted (non-empty) vs: the smallest
// value with at least q of the values at or below it.
func nearestRank(vs []int64, q float64) int64 {
	rank := int(math.Ceil(q * float64(len(vs))))
	return vs[max(min(rank, len(vs)), 1)-1]
}

// delivery is one message received by a storm client.
type delivery struct {
	sched, lat  int64 // scheduled send time (unix ns), latency (ns)
	fromNode    int64 // receive time minus the node's "ts" (ns, ms resolution); -1 unknown
	undisturbed bool  // the receiver's node was not drained
	node        int8  // the receiver's first node
}

// latencyIn summarizes the latencies of the undisturbed deliveries
// scheduled in [from, to), to receivers on node if node >= 0.
func latencyIn(ds []delivery, from, to int64, node int) durStats {
	var lats []int64
	for _, d := range ds {
		if d.undisturbed && d.sched >= from && d.sched < to && (node < 0 || int(d.node) == node) {
			lats = append(lats, d.lat)
		}
	}
	return summarize(lats)
}

// stormSeries is what the plot shows, per stormStep slice from From
// (seconds relative to the drain signal).
type stormSeries struct {
	FromS    float64   `json:"from_s"`
	StepMS   int64     `json:"step_ms"`
	Connects []int     `json:"connects"`  // "joined" after a reconnect
	Refused  []int     `json:"refused"`   // HTTP 503s
	P99MS    []float64 `json:"p99_ms"`    // undisturbed deliveries by scheduled time; -1: none
	Delivers []int     `json:"delivered"` // undisturbed deliveries
	// FromNodeP99MS is the p99 of the same deliveries timed from the
	// node's "ts" instead of the schedule: without the generator's send
	// lag; -1: none.
	FromNodeP99MS []float64 `json:"from_node_p99_ms,omitempty"`
	// SendLagMaxMS is the worst lag of the generator's sends scheduled in
	// the slice; -1: none.
	SendLagMaxMS []float64 `json:"send_lag_max_ms,omitempty"`
}

// buildSeries slices [from, to) (unix ns; drain is the signal time) into
// stormStep slices and counts rejoins and 503s and the deliveries' p99.
func buildSeries(drain, from, to int64, rejoins, refused []int64, ds []delivery, lags []sendLag) stormSeries {
	step := int64(stormStep)
	n := int(max((to-from+step-1)/step, 0))
	s := stormSeries{FromS: float64(from-drain) / 1e9, StepMS: stormStep.Milliseconds(),
		Connects: make([]int, n), Refused: make([]int, n), P99MS: make([]float64, n), Delivers: make([]int, n),
		FromNodeP99MS: make([]float64, n), SendLagMaxMS: make([]float64, n)}
	slot := func(t int64) int {
		if t < from || t >= to {
			return -1
		}
		return int((t - from) / step)
	}
	for _, t := range rejoins {
		if i := slot(t); i >= 0 {
			s.Connects[i]++
		}
	}
	for _, t := range refused {
		if i := slot(t); i >= 0 {
			s.Refused[i]++
		}
	}
	lats, fromNode := make([][]int64, n), make([][]int64, n)
	for _, d := range ds {
		if i := slot(d.sched); i >= 0 && d.undisturbed {
			lats[i] = append(lats[i], d.lat)
			if d.fromNode >= 0 {
				fromNode[i] = append(fromNode[i], d.fromNode)
			}
		}
	}
	for i, l := range lats {
		s.Delivers[i] = len(l)
		s.P99MS[i], s.FromNodeP99MS[i], s.SendLagMaxMS[i] = -1, -1, -1
		if len(l) > 0 {
			s.P99MS[i] = summarize(l).P99MS
		}
		if len(fromNode[i]) > 0 {
			s.FromNodeP99MS[i] = summarize(fromNode[i]).P99MS
		}
	}
	for _, l := range lags {
		if i := slot(l.sched); i >= 0 {
			s.SendLagMaxMS[i] = max(s.SendLagMaxMS[i], math.Round(float64(l.lag)/1e4)/100)
		}
	}
	return s
}

// stormTargets are issue 16's targets for one variant, as reported (not
// asserted): with jitter, every client back within 2 s, no failure and an
// undisturbed p99 of at most 20 ms; without jitter, no failure other than
// 503s that succeeded on retry.
func stormTargets(r *stormResult) []string {
	var out []string
	noFail := r.NotBack == 0 && r.OtherErrors == 0
	if r.JitterMS > 0 {
		out = append(out, verdict(noFail && r.Rejoin.N == r.Drained && r.Rejoin.MaxMS <= 2000,
			"all drained clients back within 2 s with 0 failures"))
		out = append(out, verdict(r.Storm.N > 0 && r.Storm.P99MS <= 20, "undisturbed deliveries p99 <= 20 ms"))
	} else {
		out = append(out, verdict(noFail, "no failure except 503s that succeed on retry"))
	}
	return out
}

func verdict(ok bool, what string) string {
	if ok {
		return "met: " + what
	}
	return "NOT met: " + what
}

// expectedUndisturbed counts the deliveries to never-disconnected receivers
// of the messages scheduled in [from, to): message k goes at start+k*every
// to room k % rooms, whose receivers are i = room*members ... (fewer in the
// last room, n receivers in all), receiver i on node i % nodes.
func expectedUndisturbed(start int64, every time.Duration, n, members, nodes, drain int, from, to int64) int {
	rooms := (n + members - 1) / members
	perRoom := make([]int, rooms)
	for i := range n {
		if i%nodes != drain {
			perRoom[i/members]++
		}
	}
	total := 0
	for k := max((from-start+int64(every)-1)/int64(every), 0); start+k*int64(every) < to; k++ {
		total += perRoom[k%int64(rooms)]
	}
	return total
}

// fromNodeIn summarizes the undisturbed deliveries scheduled in [from, to)
// timed from the node's "ts".
func fromNodeIn(ds []delivery, from, to int64) durStats {
	var v []int64
	for _, d := range ds {
		if d.undisturbed && d.sched >= from && d.sched < to && d.fromNode >= 0 {
			v = append(v, d.fromNode)
		}
	}
	return summarize(v)
}

// lagIn summarizes the send lags of the messages scheduled in [from, to).
func lagIn(ls []sendLag, from, to int64) durStats {
	var v []int64
	for _, l := range ls {
		if l.sched >= from && l.sched < to {
			v = append(v, l.lag)
		}
	}
	return summarize(v)
}
