package presence_test

import (
	"testing"

	"omnicc/directory"
	"omnicc/presence"
	"omnicc/store"
	"omnicc/storetest"
)

// A pause type created a moment ago is usable at once, before Run has
// reloaded the cache after the directory change.
func TestPauseWithAJustCreatedPauseType(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db)
		a := r.agent("fresh", directory.TypologyWebRTC, nil)
		r.load()
		if _, err := r.svc.Login(t.Context(), a.ID, presence.SourceAPI); err != nil {
			t.Fatal(err)
		}
		pt := &directory.PauseType{Base: directory.Base{Name: "Coaching"}}
		if err := r.dir.PauseTypes().Create(t.Context(), pt); err != nil {
			t.Fatal(err)
		}
		if _, err := r.svc.Pause(t.Context(), a.ID, "coaching", nil); err != nil {
			t.Fatalf("pause with a pause type created just before: %v", err)
		}
		st, err := r.svc.State(t.Context(), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if st.State != "paused" || st.Reason != "Coaching" {
			t.Fatalf("state %q reason %q, want paused Coaching", st.State, st.Reason)
		}
	})
}
