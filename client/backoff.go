package client

import (
	"math"
	"math/rand/v2"
	"time"
)

// Backoff is the reconnect delay policy: full jitter exponential backoff.
// The delay before reconnect attempt n (0 for the first retry after a
// connection was lost) is uniformly random in [0, min(Max, Base*Factor^n)).
// Zero fields take their defaults.
type Backoff struct {
	Base   time.Duration // default 250ms
	Max    time.Duration // default 10s
	Factor float64       // default 2
}

const (
	defaultBackoffBase   = 250 * time.Millisecond
	defaultBackoffMax    = 10 * time.Second
	defaultBackoffFactor = 2
)

func (b Backoff) withDefaults() Backoff {
	if b.Base <= 0 {
		b.Base = defaultBackoffBase
	}
	if b.Max <= 0 {
		b.Max = defaultBackoffMax
	}
	if b.Max < b.Base {
		b.Max = b.Base
	}
	if b.Factor < 1 {
		b.Factor = defaultBackoffFactor
	}
	return b
}

// Cap returns the upper bound of the delay of attempt n: min(Max,
// Base*Factor^n).
func (b Backoff) Cap(attempt int) time.Duration {
	b = b.withDefaults()
	c := float64(b.Base) * math.Pow(b.Factor, float64(max(attempt, 0)))
	if c >= float64(b.Max) || math.IsInf(c, 0) || math.IsNaN(c) {
		return b.Max
	}
	return time.Duration(c)
}

// Delay returns the delay of attempt n for a random number r in [0, 1):
// r * Cap(n).
func (b Backoff) Delay(attempt int, r float64) time.Duration {
	if r < 0 || r >= 1 {
		r = 0
	}
	return time.Duration(r * float64(b.Cap(attempt)))
}

// Clock is the time source of the reconnect loop; tests replace it to see
// and control the delays. The default is the real clock.
type Clock interface {
	Now() time.Time
	// After is time.After.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// defaultRand is the source of the jitter when Config.Rand is nil.
func defaultRand() float64 { return rand.Float64() }
