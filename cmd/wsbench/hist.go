package main

import (
	"math/bits"
	"sync/atomic"
)

// Log-linear histogram in the spirit of HdrHistogram: values below
// 2^subBits are exact, and every power-of-two range above that is split into
// 2^subBits linear buckets, so the relative error of any recorded value is
// below 2^-subBits (0.8 % with subBits = 7). Values are int64 nanoseconds.
const (
	subBits    = 7
	subCount   = 1 << subBits              // buckets per power of two
	maxShift   = 63 - subBits - 1          // largest shift for a positive int64
	numBuckets = (maxShift + 2) * subCount // exact range + one row per shift
)

// bucketOf returns the bucket index of v (negative values count as 0).
func bucketOf(v int64) int {
	if v < subCount {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - subBits - 1 // v>>shift is in [subCount, 2*subCount)
	return (shift+1)*subCount + int(v>>uint(shift)) - subCount
}

// bucketHigh is the largest value that falls into bucket idx.
func bucketHigh(idx int) int64 {
	if idx < subCount {
		return int64(idx)
	}
	shift := idx/subCount - 1
	mant := int64(idx%subCount + subCount)
	return (mant+1)<<uint(shift) - 1
}

// Histogram records values concurrently with atomic adds. The zero value is
// not usable; call NewHistogram.
type Histogram struct {
	counts []atomic.Uint64
	total  atomic.Uint64
	sum    atomic.Int64
	min    atomic.Int64
	max    atomic.Int64
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	h := &Histogram{counts: make([]atomic.Uint64, numBuckets)}
	h.min.Store(int64(^uint64(0) >> 1))
	return h
}

// Record adds one value. It is safe for concurrent use.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)].Add(1)
	h.total.Add(1)
	h.sum.Add(v)
	for cur := h.max.Load(); v > cur && !h.max.CompareAndSwap(cur, v); cur = h.max.Load() {
	}
	for cur := h.min.Load(); v < cur && !h.min.CompareAndSwap(cur, v); cur = h.min.Load() {
	}
}

// Snapshot copies the histogram into its serialisable, sparse form.
func (h *Histogram) Snapshot() HistSnapshot {
	s := HistSnapshot{Count: h.total.Load(), Sum: h.sum.Load(), Max: h.max.Load()}
	if s.Count > 0 {
		s.Min = h.min.Load()
	}
	for i := range h.counts {
		if c := h.counts[i].Load(); c > 0 {
			s.Buckets = append(s.Buckets, [2]uint64{uint64(i), c})
		}
	}
	return s
}

// HistSnapshot is a sparse, mergeable copy of a Histogram: Buckets holds
// (bucket index, count) pairs in ascending index order.
type HistSnapshot struct {
	Count   uint64      `json:"count"`
	Sum     int64       `json:"sum"`
	Min     int64       `json:"min"`
	Max     int64       `json:"max"`
	Buckets [][2]uint64 `json:"buckets,omitempty"`
}

// Merge returns the union of s and o.
func (s HistSnapshot) Merge(o HistSnapshot) HistSnapshot {
	out := HistSnapshot{Count: s.Count + o.Count, Sum: s.Sum + o.Sum}
	out.Min, out.Max = mergeMinMax(s, o)
	i, j := 0, 0
	for i < len(s.Buckets) || j < len(o.Buckets) {
		switch {
		case j == len(o.Buckets) || (i < len(s.Buckets) && s.Buckets[i][0] < o.Buckets[j][0]):
			out.Buckets = append(out.Buckets, s.Buckets[i])
			i++
		case i == len(s.Buckets) || o.Buckets[j][0] < s.Buckets[i][0]:
			out.Buckets = append(out.Buckets, o.Buckets[j])
			j++
		default:
			out.Buckets = append(out.Buckets, [2]uint64{s.Buckets[i][0], s.Buckets[i][1] + o.Buckets[j][1]})
			i++
			j++
		}
	}
	return out
}

func mergeMinMax(s, o HistSnapshot) (lo, hi int64) {
	switch {
	case s.Count == 0:
		return o.Min, o.Max
	case o.Count == 0:
		return s.Min, s.Max
	}
	return min(s.Min, o.Min), max(s.Max, o.Max)
}

// Quantile returns the value at quantile q (0..1): the upper edge of the
// bucket holding the ceil(q*Count)-th smallest value, capped at Max.
// It returns 0 for an empty snapshot.
func (s HistSnapshot) Quantile(q float64) int64 {
	if s.Count == 0 {
		return 0
	}
	rank := uint64(q*float64(s.Count) + 0.999999999)
	rank = max(min(rank, s.Count), 1)
	var seen uint64
	for _, b := range s.Buckets {
		seen += b[1]
		if seen >= rank {
			return min(bucketHigh(int(b[0])), s.Max)
		}
	}
	return s.Max
}

// Mean returns the arithmetic mean, or 0 when empty.
func (s HistSnapshot) Mean() float64 {
	if s.Count == 0 {
		return 0
	}
	return float64(s.Sum) / float64(s.Count)
}

// Latency is the summary printed for one histogram, in milliseconds.
type Latency struct {
	Count uint64  `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
}

// Summary computes the standard percentiles in milliseconds.
func (s HistSnapshot) Summary() Latency {
	ms := func(ns int64) float64 { return float64(ns) / 1e6 }
	return Latency{
		Count: s.Count,
		Mean:  s.Mean() / 1e6,
		P50:   ms(s.Quantile(0.50)),
		P90:   ms(s.Quantile(0.90)),
		P99:   ms(s.Quantile(0.99)),
		P999:  ms(s.Quantile(0.999)),
		Max:   ms(s.Max),
	}
}
