package main

import (
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
)

func TestBucketBoundsCoverEveryValue(t *testing.T) {
	values := []int64{0, 1, 127, 128, 129, 255, 256, 257, 1000, 1 << 20, 123456789, math.MaxInt64 / 3, math.MaxInt64}
	for _, v := range values {
		b := bucketOf(v)
		if b < 0 || b >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d out of range", v, b)
		}
		hi := bucketHigh(b)
		if v > hi {
			t.Errorf("value %d above its bucket's high edge %d", v, hi)
		}
		if b > 0 && v <= bucketHigh(b-1) {
			t.Errorf("value %d also fits bucket %d (high %d)", v, b-1, bucketHigh(b-1))
		}
		if v >= subCount && float64(hi-v)/float64(v) > 1.0/subCount {
			t.Errorf("bucket of %d too wide: high %d", v, hi)
		}
	}
}

func TestBucketsAreContiguous(t *testing.T) {
	for b := 1; b < 40*subCount; b++ {
		if lo := bucketHigh(b-1) + 1; bucketOf(lo) != b {
			t.Fatalf("value %d maps to bucket %d, want %d", lo, bucketOf(lo), b)
		}
	}
}

func TestQuantilesOfUniformValues(t *testing.T) {
	h := NewHistogram()
	for v := int64(1); v <= 100000; v++ {
		h.Record(v * 1000) // 1 µs .. 100 ms
	}
	s := h.Snapshot()
	cases := []struct {
		q    float64
		want int64
	}{{0.5, 50_000_000}, {0.9, 90_000_000}, {0.99, 99_000_000}, {0.999, 99_900_000}, {1, 100_000_000}}
	for _, c := range cases {
		got := s.Quantile(c.q)
		if got < c.want || float64(got-c.want)/float64(c.want) > 0.008 {
			t.Errorf("q%.3f = %d, want %d within +0.8%%", c.q, got, c.want)
		}
	}
	if s.Count != 100000 || s.Min != 1000 || s.Max != 100_000_000 {
		t.Errorf("count %d min %d max %d", s.Count, s.Min, s.Max)
	}
	if m := s.Mean(); math.Abs(m-50_000_500) > 1 {
		t.Errorf("mean %f", m)
	}
}

func TestQuantileMatchesSortedSample(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	h := NewHistogram()
	vals := make([]int64, 5000)
	for i := range vals {
		vals[i] = int64(rng.ExpFloat64() * 2e6)
		h.Record(vals[i])
	}
	sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
	s := h.Snapshot()
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := vals[int(math.Ceil(q*float64(len(vals))))-1]
		got := s.Quantile(q)
		if got < exact || float64(got-exact) > float64(exact)/subCount+1 {
			t.Errorf("q%.3f = %d, exact %d", q, got, exact)
		}
	}
}

func TestEmptyAndSingleValue(t *testing.T) {
	s := NewHistogram().Snapshot()
	if s.Quantile(0.99) != 0 || s.Mean() != 0 || s.Summary().Max != 0 {
		t.Error("empty histogram must report zeros")
	}
	h := NewHistogram()
	h.Record(-5) // clock skew: counted as 0
	h.Record(3_000_000)
	s = h.Snapshot()
	if s.Min != 0 || s.Quantile(1) != 3_000_000 || s.Quantile(0.5) != 0 {
		t.Errorf("got min %d q1 %d q.5 %d", s.Min, s.Quantile(1), s.Quantile(0.5))
	}
}

func TestMergeEqualsRecordingTogether(t *testing.T) {
	a, b, all := NewHistogram(), NewHistogram(), NewHistogram()
	for i := int64(0); i < 3000; i++ {
		v := i * i * 37
		if i%3 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
		all.Record(v)
	}
	m := a.Snapshot().Merge(b.Snapshot())
	want := all.Snapshot()
	if m.Count != want.Count || m.Sum != want.Sum || m.Min != want.Min || m.Max != want.Max {
		t.Fatalf("merged header %+v, want %+v", m, want)
	}
	if len(m.Buckets) != len(want.Buckets) {
		t.Fatalf("merged %d buckets, want %d", len(m.Buckets), len(want.Buckets))
	}
	for i := range m.Buckets {
		if m.Buckets[i] != want.Buckets[i] {
			t.Fatalf("bucket %d: %v, want %v", i, m.Buckets[i], want.Buckets[i])
		}
	}
	if e := (HistSnapshot{}).Merge(m); e.Min != m.Min || e.Count != m.Count {
		t.Error("merging into an empty snapshot must keep min and count")
	}
}

func TestConcurrentRecord(t *testing.T) {
	h := NewHistogram()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				h.Record(int64(g*1000 + i))
			}
		}()
	}
	wg.Wait()
	s := h.Snapshot()
	if s.Count != 8000 || s.Min != 0 || s.Max != 7999 {
		t.Errorf("count %d min %d max %d", s.Count, s.Min, s.Max)
	}
}

func TestSummaryInMilliseconds(t *testing.T) {
	h := NewHistogram()
	h.Record(2_000_000)
	l := h.Snapshot().Summary()
	if l.Count != 1 || math.Abs(l.P50-2) > 0.02 || l.Max != 2 {
		t.Errorf("%+v", l)
	}
}
