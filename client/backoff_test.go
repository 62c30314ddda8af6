package client

import (
	"testing"
	"time"
)

func TestBackoffCapAndJitterBounds(t *testing.T) {
	b := Backoff{Base: 100 * time.Millisecond, Max: 3 * time.Second, Factor: 2}
	wantCap := []time.Duration{100, 200, 400, 800, 1600, 3000, 3000, 3000}
	for n, w := range wantCap {
		w *= time.Millisecond
		if got := b.Cap(n); got != w {
			t.Errorf("Cap(%d) = %s, want %s", n, got, w)
		}
		for _, r := range []float64{0, 0.25, 0.5, 0.999999} {
			d := b.Delay(n, r)
			if d < 0 || d >= w {
				t.Errorf("Delay(%d, %v) = %s, outside [0, %s)", n, r, d, w)
			}
			if want := time.Duration(r * float64(w)); d != want {
				t.Errorf("Delay(%d, %v) = %s, want %s (full jitter)", n, r, d, want)
			}
		}
	}
	// A huge attempt number neither overflows nor exceeds the cap.
	if got := b.Cap(10000); got != b.Max {
		t.Errorf("Cap(10000) = %s, want Max %s", got, b.Max)
	}
	// Out-of-range random numbers are clamped to 0, never above the cap.
	if d := b.Delay(3, 1.5); d != 0 {
		t.Errorf("Delay with r=1.5 = %s, want 0", d)
	}
}

func TestBackoffDefaults(t *testing.T) {
	var b Backoff
	if got := b.Cap(0); got != defaultBackoffBase {
		t.Errorf("default Cap(0) = %s, want %s", got, defaultBackoffBase)
	}
	if got := b.Cap(1); got != 2*defaultBackoffBase {
		t.Errorf("default Cap(1) = %s, want factor 2", got)
	}
	if got := b.Cap(60); got != defaultBackoffMax {
		t.Errorf("default Cap(60) = %s, want %s", got, defaultBackoffMax)
	}
	// Max below Base is raised to Base.
	if got := (Backoff{Base: time.Second, Max: time.Millisecond}).Cap(5); got != time.Second {
		t.Errorf("Cap with Max < Base = %s, want Base", got)
	}
}
