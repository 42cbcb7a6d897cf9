package ami

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name     string
		min, max time.Duration
		rand     float64
		want     []time.Duration
	}{
		{"no jitter draw gives the floor", 100 * ms, 1000 * ms, 0, []time.Duration{50 * ms, 100 * ms, 200 * ms, 400 * ms, 500 * ms, 500 * ms}},
		{"top of the jitter range", 100 * ms, 1000 * ms, 0.999999, []time.Duration{99 * ms, 199 * ms, 399 * ms, 799 * ms, 999 * ms, 999 * ms}},
		{"min equals max", 300 * ms, 300 * ms, 0, []time.Duration{150 * ms, 150 * ms, 150 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackoff(tt.min, tt.max)
			b.rand = func() float64 { return tt.rand }
			for i, want := range tt.want {
				got := b.next().Truncate(ms)
				if got != want {
					t.Fatalf("attempt %d: got %s, want %s", i, got, want)
				}
			}
			b.reset()
			if got := b.next().Truncate(ms); got != tt.want[0] {
				t.Fatalf("after reset: got %s, want %s", got, tt.want[0])
			}
		})
	}
}
