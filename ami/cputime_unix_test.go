//go:build unix

package ami_test

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time this process used so far, user and system, every
// goroutine and the garbage collector included. Benchmarks divide by it so
// their figures do not depend on how busy a shared machine is.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
