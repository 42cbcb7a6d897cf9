package ami

import (
	"math/rand/v2"
	"time"
)

// backoff yields capped exponential delays with equal jitter: each delay is
// somewhere in [d/2, d] where d doubles from min up to max. The jitter keeps
// several omniccd instances (or boxes) from reconnecting in lockstep after an
// Asterisk restart; the floor of d/2 keeps a flapping box from being
// hammered.
type backoff struct {
	min, max time.Duration
	cur      time.Duration
	rand     func() float64 // in [0,1); injectable so tests are exact
}

func newBackoff(min, max time.Duration) *backoff {
	return &backoff{min: min, max: max, rand: rand.Float64}
}

// next returns the delay before the next attempt and doubles the base.
func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	}
	d := b.cur
	if b.cur < b.max {
		b.cur *= 2
		if b.cur > b.max || b.cur <= 0 {
			b.cur = b.max
		}
	}
	half := d / 2
	return half + time.Duration(b.rand()*float64(d-half))
}

// reset starts the sequence over, after a connection that stayed up.
func (b *backoff) reset() { b.cur = 0 }
