package presence

import (
	"sync"
	"testing"
	"time"
)

// Two agents whose ids were equal mod 64 shared one mutex, so an agent's
// login waited for another's 5 s Asterisk action. Each id has its own now:
// taking 65 while 1 is held does not wait (with the old array it blocked
// for good, which the generous bound below turns into a failure).
func TestKeyedLocksIndependent(t *testing.T) {
	var k keyedLocks
	release := k.lock(1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		k.lock(65)()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("agent 65 waits for agent 1's lock")
	}
	release()
	if n := k.held(); n != 0 {
		t.Fatalf("%d locks kept after release, want 0", n)
	}
}

// Mutual exclusion per key: the counters are written without any other
// synchronisation, so -race reports it if two holders of one key overlap.
func TestKeyedLocksConcurrent(t *testing.T) {
	var k keyedLocks
	counters := make([]int, 4)
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				key := int64((g + i) % len(counters))
				unlock := k.lock(key)
				counters[key]++
				unlock()
			}
		}()
	}
	wg.Wait()
	total := 0
	for _, c := range counters {
		total += c
	}
	if total != 16*200 || k.held() != 0 {
		t.Fatalf("total %d (want %d), %d locks left", total, 16*200, k.held())
	}
}
