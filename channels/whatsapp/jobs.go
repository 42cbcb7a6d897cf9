package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"omnicc/store"
)

// JobOptions configure the WhatsApp scheduled jobs.
type JobOptions struct {
	// Retention purges messages (and their media files) older than this;
	// 0 keeps everything.
	Retention time.Duration
	// Registerer receives the job metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Interactions, when set, adds the router's jobs: closing interactions
	// idle past their queue's idle_close, and warning agents before a
	// window closes.
	Interactions Interactions
	// WindowWarning is how long before a window closes its agent is warned
	// (default 1h).
	WindowWarning time.Duration
}

// Interactions is the router's side of the scheduled jobs (router.Router).
type Interactions interface {
	CloseIdle(ctx context.Context) (int, error)
	WarnWindows(ctx context.Context, within time.Duration) (int, error)
}

// Jobs are the connector's scheduled jobs, run by one robfig/cron scheduler.
// Every run takes a database lock first, so two omniccd instances against
// one MySQL never run the same job at once.
type Jobs struct {
	conn      *Connector
	retention time.Duration
	runs      *prometheus.CounterVec
	seconds   *prometheus.HistogramVec
	specs     []jobSpec
}

type jobSpec struct {
	name, spec string
	fn         func(context.Context) error
}

// ErrJobLocked: another instance holds the job's lock; this run is skipped.
var ErrJobLocked = errors.New("whatsapp: the job runs on another instance")

// NewJobs builds the jobs: failed sends with a retryable code are sent again
// every minute; messages past the retention are purged nightly.
func NewJobs(conn *Connector, o JobOptions) (*Jobs, error) {
	j := &Jobs{conn: conn, retention: o.Retention,
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "omnicc_whatsapp_job_runs_total",
			Help: "WhatsApp scheduled job runs by result (ok, error, skipped: locked by another instance)."}, []string{"job", "result"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "omnicc_whatsapp_job_seconds",
			Help: "Duration of WhatsApp scheduled job runs.", Buckets: prometheus.DefBuckets}, []string{"job"}),
	}
	j.specs = []jobSpec{
		{"retry_sends", "@every 1m", j.retrySends},
		{"purge", "@daily", j.purge},
	}
	if o.Interactions != nil {
		warn := o.WindowWarning
		if warn <= 0 {
			warn = time.Hour
		}
		j.specs = append(j.specs,
			jobSpec{"close_idle", "@every 1m", func(ctx context.Context) error {
				n, err := o.Interactions.CloseIdle(ctx)
				if n > 0 {
					conn.log.Info("closed idle interactions", "count", n)
				}
				return err
			}},
			jobSpec{"window_warning", "@every 1m", func(ctx context.Context) error {
				n, err := o.Interactions.WarnWindows(ctx, warn)
				if n > 0 {
					conn.log.Info("warned agents of closing windows", "count", n)
				}
				return err
			}})
	}
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{j.runs, j.seconds} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("whatsapp: register job metrics: %w", err)
			}
		}
	}
	return j, nil
}

// Names are the jobs' names, in the order they were defined.
func (j *Jobs) Names() []string {
	out := make([]string, len(j.specs))
	for i, s := range j.specs {
		out[i] = s.name
	}
	return out
}

// Run schedules every job until ctx ends, then waits for running ones.
func (j *Jobs) Run(ctx context.Context) error {
	return j.schedule(ctx, j.Names()...)
}

// RunScheduled schedules the one job name until ctx ends: among several
// instances each job is led on its own (role cron:whatsapp.<name>), so the
// jobs spread over the instances.
func (j *Jobs) RunScheduled(ctx context.Context, name string) error {
	return j.schedule(ctx, name)
}

func (j *Jobs) schedule(ctx context.Context, names ...string) error {
	c := cron.New()
	for _, name := range names {
		i := slices.IndexFunc(j.specs, func(s jobSpec) bool { return s.name == name })
		if i < 0 {
			return fmt.Errorf("whatsapp: no job named %q", name)
		}
		if _, err := c.AddFunc(j.specs[i].spec, func() { _ = j.RunJob(ctx, name) }); err != nil {
			return fmt.Errorf("whatsapp: schedule job %s (%q): %w", name, j.specs[i].spec, err)
		}
	}
	c.Start()
	<-ctx.Done()
	<-c.Stop().Done()
	return nil
}

// RunJob runs one job now under its lock, logging and measuring it.
func (j *Jobs) RunJob(ctx context.Context, name string) error {
	var fn func(context.Context) error
	for _, s := range j.specs {
		if s.name == name {
			fn = s.fn
		}
	}
	if fn == nil {
		return fmt.Errorf("whatsapp: no job named %q", name)
	}
	start := time.Now()
	err := j.locked(ctx, "omnicc.whatsapp."+name, fn)
	result := "ok"
	switch {
	case errors.Is(err, ErrJobLocked):
		result = "skipped"
		j.conn.log.Info("whatsapp job skipped: running on another instance", "job", name)
	case err != nil:
		result = "error"
		j.conn.log.Error("whatsapp job failed", "job", name, "err", err)
	default:
		j.conn.log.Info("whatsapp job done", "job", name, "took", time.Since(start))
	}
	j.runs.WithLabelValues(name, result).Inc()
	j.seconds.WithLabelValues(name).Observe(time.Since(start).Seconds())
	return err
}

// locked runs fn holding a MySQL named lock on one connection (GET_LOCK is
// per session). SQLite is one process's file: no lock is needed.
func (j *Jobs) locked(ctx context.Context, lock string, fn func(context.Context) error) error {
	db := j.conn.store.db
	if db.Dialect != store.MySQL {
		return fn(ctx)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var got *int
	if err := conn.QueryRowContext(ctx, `SELECT GET_LOCK(?, 0)`, lock).Scan(&got); err != nil {
		return fmt.Errorf("take lock %s: %w", lock, err)
	}
	if got == nil || *got != 1 {
		return ErrJobLocked
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT RELEASE_LOCK(?)`, lock) //nolint:errcheck // the session ends anyway
	return fn(ctx)
}

// retryableCodes are the provider codes a failed send may be retried on.
var retryableCodes = []any{130429, 131056, 131000, 1, 2, 20429, 20500, 20503}

// retrySends sends again the text and media messages that failed only
// because the provider was busy, while the window is still open.
func (j *Jobs) retrySends(ctx context.Context) error {
	c := j.conn
	var ms []Message
	q := `SELECT ` + messageColumns + ` FROM whatsapp_messages WHERE direction = 'out' AND status = 'failed'
		AND kind IN ('text', 'image', 'document', 'audio', 'video') AND media_id NOT LIKE 'upload:%' AND attempts < ? AND error_code IN (?, ?, ?, ?, ?, ?, ?, ?)
		ORDER BY id LIMIT 50`
	if err := c.store.db.SelectContext(ctx, &ms, q, append([]any{3 * c.maxAttempts}, retryableCodes...)...); err != nil {
		return err
	}
	for _, m := range ms {
		exp, err := c.store.WindowExpiresAt(ctx, m.AccountID, m.WaID)
		if err != nil {
			return err
		}
		if !c.clock.Now().Before(exp) {
			continue // too late for free text: it stays failed, visible
		}
		a, err := c.store.Account(ctx, m.AccountID)
		if err != nil {
			return err
		}
		// Claim it: only a row still failed goes back to pending.
		res, err := c.store.db.ExecContext(ctx, `UPDATE whatsapp_messages SET status = 'pending', status_rank = 0, error_code = 0,
			error_title = '' WHERE id = ? AND status = 'failed'`, m.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue
		}
		req := providerRequest{to: m.WaID, ref: makeRef(m.ID), twilio: url.Values{}}
		if m.Kind == KindText {
			req.meta = map[string]any{"type": "text", "text": map[string]any{"body": m.Body, "preview_url": false}}
			req.twilio.Set("Body", m.Body)
		} else {
			md := map[string]any{"link": m.MediaID}
			if m.Body != "" && m.Kind != KindAudio {
				md["caption"] = m.Body
			}
			req.meta = map[string]any{"type": m.Kind, m.Kind: md}
			req.twilio.Set("MediaUrl", m.MediaID)
		}
		sent, err := c.deliver(ctx, a, m.ID, req)
		if err != nil {
			c.log.Warn("whatsapp: retried send failed again", "message", m.ID, "err", err)
			continue
		}
		c.log.Info("whatsapp: retried send accepted", "message", m.ID, "wamid", sent.ExternalID)
	}
	return nil
}

// purge deletes messages past the retention, with their media files.
func (j *Jobs) purge(ctx context.Context) error {
	if j.retention <= 0 {
		return nil
	}
	c := j.conn
	cutoff := c.clock.Now().UTC().Add(-j.retention)
	for {
		var rows []struct {
			ID   int64  `db:"id"`
			Path string `db:"media_path"`
		}
		if err := c.store.db.SelectContext(ctx, &rows, `SELECT id, media_path FROM whatsapp_messages WHERE created_at < ? ORDER BY id LIMIT 500`, cutoff); err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		for _, r := range rows {
			if r.Path != "" {
				if err := os.Remove(r.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
					return err
				}
			}
			if _, err := c.store.db.ExecContext(ctx, `DELETE FROM whatsapp_messages WHERE id = ?`, r.ID); err != nil {
				return err
			}
		}
	}
}
