package presence_test

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"omnicc/journal"
	"omnicc/presence"
	"omnicc/store"
	"omnicc/storetest"
)

// History rows the writer had not stored when the process died are in the
// journal: the next start writes them, and a start after that (the journal
// still holding them) does not write them twice.
func TestHistorySurvivesACrash(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		dir := filepath.Join(t.TempDir(), "history")
		withJournal := func(r *rig) *journal.Journal {
			j, err := journal.Open(dir, journal.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { j.Close() })
			r.svc = presence.New(presence.Options{DB: db, Directory: r.dir, Publisher: r.pub, Controller: r.ctrl, Names: names{},
				Clock: r.clock, Location: time.UTC, FlushDelay: -1, EventWait: -1, Journal: j})
			r.load()
			return j
		}
		r := newRig(t, db)
		a := r.agent("hana", "webrtc", nil)
		r.link(a, r.queue("sales", "voice", 0), 0, false)
		j := withJournal(r)
		// No writer runs: the login row is written with the session, the
		// rest waits in memory — and in the journal.
		if _, err := r.svc.Login(t.Context(), a.ID, presence.SourceAPI); err != nil {
			t.Fatal(err)
		}
		r.svc.ApplyVoice(&presence.VoiceFact{Kind: presence.VoiceRinging, Box: "b", Queue: "sales", Agent: "PJSIP/hana", CallID: "u1"})
		if got := r.history(a.ID); !slices.Equal(got, []string{"login(api)"}) {
			t.Fatalf("before the crash the database has %v", got)
		}
		j.Close() // the crash: the service's memory is gone, the file stays

		// Each start adds a row of its own (the agent is found ready
		// again); the journaled rows come back once, in their place.
		var first []string
		for start := range 2 {
			r2 := newRig(t, db)
			r2.dir, r2.clock = r.dir, r.clock
			withJournal(r2)
			stop := r2.run()
			stop()
			got := r2.history(a.ID)
			switch {
			case len(got) < 3 || !slices.Equal(got[:3], []string{"login(api)", "ready", "ringing@sales"}):
				t.Fatalf("start %d after the crash: history %v", start+1, got)
			case start == 0:
				first = got
			case !slices.Equal(got, append(first, "ready")):
				t.Fatalf("the second start wrote journaled rows again: %v, then %v", first, got)
			}
		}
	})
}
