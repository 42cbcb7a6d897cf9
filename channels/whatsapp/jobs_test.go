package whatsapp_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"omnicc/channels/whatsapp"
	"omnicc/store"
	"omnicc/storetest"
)

// A send that ran out of retries on 130429 is sent again by the job once the
// provider recovers; a 131047 failure is never retried.
func TestRetrySendsJob(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db, nil)
		r.receive(t, "meta_images.json")
		r.graph.answers = []fakeAnswer{{400, `{"error":{"message":"Re-engagement message","code":131047}}`},
			{400, `{"error":{"message":"(#130429) Rate limit hit","code":130429}}`}}
		final, err := r.conn.Send(t.Context(), whatsapp.Outbound{AccountID: r.acct.ID, To: "16505551234", Body: "final"})
		if !errors.Is(err, whatsapp.ErrRejected) {
			t.Fatal(err)
		}
		// A connector with one attempt per send: the rate limit exhausts it.
		one, err := whatsapp.New(whatsapp.Options{Store: r.st, Clock: r.clock, MaxAttempts: 1})
		if err != nil {
			t.Fatal(err)
		}
		busy, err := one.Send(t.Context(), whatsapp.Outbound{AccountID: r.acct.ID, To: "16505551234", Body: "busy"})
		if !errors.Is(err, whatsapp.ErrUnavailable) {
			t.Fatal(err)
		}
		m, _ := r.st.Message(t.Context(), busy.MessageID)
		if m.Status != "failed" || m.ErrorCode != 130429 {
			t.Fatalf("busy message %+v", m)
		}
		r.graph.mu.Lock()
		r.graph.answers = nil // the provider recovered
		r.graph.mu.Unlock()
		reg := prometheus.NewRegistry()
		jobs, err := whatsapp.NewJobs(r.conn, whatsapp.JobOptions{Registerer: reg})
		if err != nil {
			t.Fatal(err)
		}
		if err := jobs.RunJob(t.Context(), "retry_sends"); err != nil {
			t.Fatal(err)
		}
		if m, _ := r.st.Message(t.Context(), busy.MessageID); m.Status != "pending" || !m.ExternalID.Valid {
			t.Fatalf("after the job: %+v", m)
		}
		if m, _ := r.st.Message(t.Context(), final.MessageID); m.Status != "failed" || m.ErrorCode != 131047 {
			t.Fatalf("131047 retried: %+v", m)
		}
		if n := jobRuns(t, reg); n != 1 {
			t.Fatalf("job runs metric %v", n)
		}
	})
}

func jobRuns(t *testing.T, reg *prometheus.Registry) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "omnicc_whatsapp_job_runs_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("no omnicc_whatsapp_job_runs_total")
	return 0
}

// On MySQL a job whose lock another instance holds is skipped.
func TestJobSkippedWhileAnotherInstanceHoldsTheLock(t *testing.T) {
	db := storetest.MariaDB(t)
	r := newRig(t, db, nil)
	jobs, err := whatsapp.NewJobs(r.conn, whatsapp.JobOptions{Retention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	other, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	var got int
	if err := other.QueryRowContext(t.Context(), `SELECT GET_LOCK('omnicc.whatsapp.purge', 0)`).Scan(&got); err != nil || got != 1 {
		t.Fatal(got, err)
	}
	if err := jobs.RunJob(t.Context(), "purge"); !errors.Is(err, whatsapp.ErrJobLocked) {
		t.Fatalf("purge ran beside another instance: %v", err)
	}
	if _, err := other.ExecContext(t.Context(), `SELECT RELEASE_LOCK('omnicc.whatsapp.purge')`); err != nil {
		t.Fatal(err)
	}
	r.receive(t, "meta_text.json")
	r.clock.Advance(2 * time.Hour)
	if err := jobs.RunJob(t.Context(), "purge"); err != nil {
		t.Fatal(err)
	}
	var n int
	_ = db.GetContext(t.Context(), &n, `SELECT COUNT(*) FROM whatsapp_messages`)
	if n != 0 {
		t.Fatalf("%d messages left after the purge", n)
	}
}

type fakeInteractions struct {
	closed, warned int
	within         time.Duration
}

func (f *fakeInteractions) CloseIdle(context.Context) (int, error) { f.closed++; return 2, nil }
func (f *fakeInteractions) WarnWindows(_ context.Context, within time.Duration) (int, error) {
	f.warned++
	f.within = within
	return 1, nil
}

// The router's jobs run on the connector's one scheduler, measured like the
// others; the warning lead time defaults to an hour.
func TestRouterJobsRunOnTheScheduler(t *testing.T) {
	r := newRig(t, storetest.SQLite(t), nil)
	reg := prometheus.NewRegistry()
	fi := &fakeInteractions{}
	jobs, err := whatsapp.NewJobs(r.conn, whatsapp.JobOptions{Registerer: reg, Interactions: fi})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"close_idle", "window_warning"} {
		if err := jobs.RunJob(t.Context(), name); err != nil {
			t.Fatal(err)
		}
	}
	if fi.closed != 1 || fi.warned != 1 || fi.within != time.Hour {
		t.Fatalf("jobs ran %+v", fi)
	}
	if n := jobRuns(t, reg); n != 1 {
		t.Fatalf("job runs metric %v", n)
	}
}
