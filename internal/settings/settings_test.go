package settings

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestDescribe(t *testing.T) {
	err := fmt.Errorf("pkg: %w", Conflict("TTL", 3*time.Second, "Node.Interval", 2*time.Second,
		"%[1]s (%[2]v) must exceed %[5]d × %[3]s (%[4]v)", 2))
	if got, want := err.Error(), "pkg: TTL (3s) must exceed 2 × Node.Interval (2s)"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	var se *Error
	if !errors.As(err, &se) {
		t.Fatal("not a *settings.Error")
	}
	flags := map[string]string{"TTL": "--ttl"} // Node.Interval keeps its name
	got := se.Describe(func(s string) string { return flags[s] })
	if want := "--ttl (3s) must exceed 2 × Node.Interval (2s)"; got != want {
		t.Fatalf("Describe = %q, want %q", got, want)
	}
	r := Range("Size", -1, "%[1]s (%[2]v) must be at most %[3]v", 10)
	if got, want := r.Describe(nil), "Size (-1) must be at most 10"; got != want || len(r.Settings()) != 1 {
		t.Fatalf("Range: %q %q", got, r.Settings())
	}
}
