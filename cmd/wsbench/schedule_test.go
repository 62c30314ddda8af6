package main

import (
	"context"
	"testing"
	"time"
)

func TestScheduleTimes(t *testing.T) {
	// 100 msg/s shared by 4 publishers: each sends every 40 ms, staggered by 10 ms.
	const start = int64(1_000_000_000)
	for j := range 4 {
		s := NewSchedule(start, 100, j, 4, time.Second)
		if s.Period != 40e6 || s.Offset != int64(j)*10e6 {
			t.Fatalf("pub %d: period %v offset %d", j, s.Period, s.Offset)
		}
		if s.Count != 25 {
			t.Errorf("pub %d: count %d, want 25", j, s.Count)
		}
		if got := s.At(3); got != start+int64(j)*10e6+120e6 {
			t.Errorf("pub %d: At(3) = %d", j, got)
		}
		if last := s.At(s.Count - 1); last >= start+1e9 {
			t.Errorf("pub %d: last send %d past the span", j, last)
		}
	}
}

func TestScheduleTotalMatchesRate(t *testing.T) {
	// 10k deliveries/s to rooms of 100 = 100 msg/s over 30 publishers (3.33/s each).
	rate := MsgRate(10000, 100)
	var total int64
	for j := range 30 {
		total += NewSchedule(0, rate, j, 30, 12*time.Second).Count
	}
	if total != 1200 {
		t.Errorf("total messages %d, want 1200", total)
	}
}

func TestScheduleDueAndFirstFrom(t *testing.T) {
	s := NewSchedule(0, 10, 0, 1, time.Second) // 0, 100ms, ..., 900ms
	cases := []struct{ now, due int64 }{
		{-1, 0}, {0, 1}, {99_999_999, 1}, {100_000_000, 2}, {950_000_000, 10}, {5e9, 10},
	}
	for _, c := range cases {
		if got := s.Due(c.now); got != c.due {
			t.Errorf("Due(%d) = %d, want %d", c.now, got, c.due)
		}
	}
	if got := s.FirstFrom(250_000_000); got != 3 {
		t.Errorf("FirstFrom(250ms) = %d, want 3", got)
	}
	if got := s.FirstFrom(300_000_000); got != 3 {
		t.Errorf("FirstFrom(300ms) = %d, want 3 (inclusive)", got)
	}
}

func TestScheduleFractionalPeriodDoesNotDrift(t *testing.T) {
	s := NewSchedule(0, 3, 0, 1, time.Hour) // 333.33 ms period
	if got := s.At(3 * 3600); got != 3600e9 {
		t.Errorf("At(10800) = %d, want exactly one hour", got)
	}
	if s.Count != 3*3600 {
		t.Errorf("count %d", s.Count)
	}
}

func TestScheduleZeroRate(t *testing.T) {
	if s := NewSchedule(5, 0, 0, 1, time.Second); s.Count != 0 || s.Due(1e12) != 0 {
		t.Errorf("zero rate schedule %+v", s)
	}
	if MsgRate(100, 0) != 0 || MsgRate(300, 100) != 3 {
		t.Error("MsgRate")
	}
}

func TestSleepUntil(t *testing.T) {
	t0 := time.Now()
	if !sleepUntil(context.Background(), t0.Add(20*time.Millisecond).UnixNano()) {
		t.Fatal("sleep interrupted")
	}
	if d := time.Since(t0); d < 20*time.Millisecond {
		t.Errorf("woke after %v", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if sleepUntil(ctx, time.Now().Add(time.Hour).UnixNano()) {
		t.Error("cancelled sleep reported completion")
	}
}
