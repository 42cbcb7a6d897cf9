package presence

import "sync"

// keyedLocks is one mutex per key, created on first use and forgotten when
// nobody holds or waits for it, so a fixed array's collisions (ids equal
// mod its size blocking each other across slow Asterisk actions) cannot
// happen and idle agents cost nothing. The zero value is ready to use.
type keyedLocks struct {
	mu    sync.Mutex
	locks map[int64]*keyedLock
}

type keyedLock struct {
	mu   sync.Mutex
	refs int // holders and waiters; guarded by keyedLocks.mu
}

// lock takes key's mutex and returns its release.
func (k *keyedLocks) lock(key int64) (unlock func()) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = make(map[int64]*keyedLock)
	}
	l := k.locks[key]
	if l == nil {
		l = &keyedLock{}
		k.locks[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}

// held is the number of keys with a holder or a waiter (tests).
func (k *keyedLocks) held() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.locks)
}
