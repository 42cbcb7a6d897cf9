//go:build !unix

package ami_test

import "time"

// cpuTime is unavailable here; the events/cpu-s metric is then left out.
func cpuTime() time.Duration { return 0 }
