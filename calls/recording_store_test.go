package calls

import (
	"context"
	"errors"
	"testing"
	"time"

	"omnicc/store"
	"omnicc/storetest"
)

// A reservation left "starting" by a crash does not hold its slot forever:
// a later start on the same call reclaims it once it is clearly stale, while
// a fresh one (a start still waiting for MixMonitor) keeps it.
func TestStaleStartingSlotIsReclaimed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		rs := &recordingStore{db: db}
		now := time.Now().UTC().Truncate(time.Second)
		file := func(slot int) string { return "call-1-" + string(rune('0'+slot)) + ".wav" }
		rec := func(at time.Time) *Recording {
			return &Recording{CallID: "call-1", Channel: "PJSIP/ann-00000001", UniqueID: "1.1", LinkedID: "1.1",
				Format: "wav", Source: "api", StartedAt: at}
		}
		busy := rec(now.Add(-time.Second)) // still waiting for MixMonitor
		if err := rs.reserve(ctx, busy, false, file); err != nil || busy.Slot != 1 {
			t.Fatalf("first reservation: slot %d %v", busy.Slot, err)
		}
		crashed := rec(now.Add(-2 * time.Minute)) // its process died before the answer
		if err := rs.reserve(ctx, crashed, false, file); err != nil || crashed.Slot != 2 {
			t.Fatalf("second reservation: slot %d %v", crashed.Slot, err)
		}
		next := rec(now)
		if err := rs.reserve(ctx, next, false, file); err != nil || next.Slot != 2 {
			t.Fatalf("a start after a crash: slot %d %v, want the stale slot 2", next.Slot, err)
		}
		if err := rs.reserve(ctx, rec(now), false, file); !errors.Is(err, ErrSlotsFull) {
			t.Fatalf("a third live recording: %v, want the limit", err)
		}
	})
}
