// Package leader decides which of several omniccd instances does the work
// that must be done once — following an Asterisk box, the router's timers, a
// scheduled job — with MySQL named locks (GET_LOCK) held on a connection of
// their own. On the embedded SQLite store there is one instance: it leads all.
package leader

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"omnicc/clock"
	"omnicc/store"
)

// Defaults for Options' zero values.
const (
	// DefaultCheck is how often a holder asks the server whether its lock
	// is still its own. Between two asks it waits on the server (SLEEP),
	// so a session that is killed or dropped is noticed at once; one that
	// the server stops answering within two Checks. That is the longest
	// two instances may both act; the database's conditional updates
	// decide what they race on meanwhile.
	DefaultCheck = time.Second
	// DefaultWait is how long one GET_LOCK waits on the server. A waiting
	// instance gets the lock the moment the holder's session ends, so this
	// only bounds how often the wait is renewed.
	DefaultWait = 2 * time.Second
	// DefaultRetry is the pause after an error (the database down, a role
	// that failed) before campaigning again.
	DefaultRetry = 2 * time.Second
	// DefaultSessionTimeout is the lock session's wait_timeout: the server
	// ends a session that said nothing for this long, so a holder that is
	// paused (SIGSTOP, a VM frozen) or cut off loses its lock instead of
	// keeping it for the server's default eight hours.
	DefaultSessionTimeout = 5 * time.Second
)

// Options tune an Elector; zero values take the defaults.
type Options struct {
	// Instance names this instance in logs (OMNICC_INSTANCE_ID).
	Instance string
	Logger   *slog.Logger
	Clock    clock.Clock
	Check    time.Duration // [DefaultCheck]
	Wait     time.Duration // [DefaultWait]; whole seconds on the server, at least 1
	Retry    time.Duration // [DefaultRetry]
	// SessionTimeout must exceed Check by a margin, or a live holder's
	// session would be ended between two checks. [DefaultSessionTimeout]
	SessionTimeout time.Duration
	// Registerer, when set, receives omnicc_leader_role and
	// omnicc_leader_changes_total.
	Registerer prometheus.Registerer
}

// Elector campaigns for roles on behalf of one instance. Each role is its
// own lock, so the roles of many Asterisk boxes spread over the instances.
type Elector struct {
	db      *sql.DB
	dialect store.Dialect
	o       Options
	log     *slog.Logger
	clk     clock.Clock

	mu   sync.Mutex
	held map[string]time.Time // role → when it was won

	leading *prometheus.GaugeVec
	changes *prometheus.CounterVec
}

// New builds an Elector over db's store.PoolLeader pool.
func New(db *store.DB, o Options) (*Elector, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Check <= 0 {
		o.Check = DefaultCheck
	}
	if o.Wait <= 0 {
		o.Wait = DefaultWait
	}
	if o.Retry <= 0 {
		o.Retry = DefaultRetry
	}
	if o.SessionTimeout <= 0 {
		o.SessionTimeout = DefaultSessionTimeout
	}
	if o.SessionTimeout < 2*o.Check {
		return nil, fmt.Errorf("leader: session timeout %s is shorter than twice the check interval %s: a live holder would lose its lock", o.SessionTimeout, o.Check)
	}
	e := &Elector{db: db.Pool(store.PoolLeader).DB.DB, dialect: db.Dialect, o: o, log: o.Logger, clk: clock.Or(o.Clock),
		held: map[string]time.Time{},
		leading: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "omnicc_leader_role",
			Help: "1 while this instance leads the role (ami:<box>, router, cron:<job>), 0 otherwise."}, []string{"role"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "omnicc_leader_changes_total",
			Help: "Leadership won and lost by this instance, per role."}, []string{"role", "change"}),
	}
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{e.leading, e.changes} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("leader: register metrics: %w", err)
			}
		}
	}
	return e, nil
}

// Roles lists, sorted, the roles this instance leads right now.
func (e *Elector) Roles() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]string, 0, len(e.held))
	for r := range e.held {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

// Leads reports whether this instance leads role right now.
func (e *Elector) Leads(role string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, ok := e.held[role]
	return ok
}

func (e *Elector) setHeld(role string, held bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if held {
		e.held[role] = e.clk.Now()
		e.leading.WithLabelValues(role).Set(1)
		e.changes.WithLabelValues(role, "won").Inc()
		return
	}
	if _, ok := e.held[role]; !ok {
		return
	}
	delete(e.held, role)
	e.leading.WithLabelValues(role).Set(0)
	e.changes.WithLabelValues(role, "lost").Inc()
}

// errLost: the holder's lock connection died or the lock is someone else's.
var errLost = errors.New("leadership lost")

// Lead campaigns for role until ctx ends. Each time it wins, it calls run
// with a context that is cancelled the moment the lock is lost (or ctx
// ends); run must stop acting then, and it should begin by resyncing from
// the truth (Asterisk, the database), since it cannot know what the last
// leader did. When run returns by itself the lock is released: with an
// error, Lead campaigns again after Options.Retry; with nil it returns.
//
// On SQLite this instance is the only one: run is called at once.
func (e *Elector) Lead(ctx context.Context, role string, run func(ctx context.Context) error) error {
	if e.dialect != store.MySQL {
		e.setHeld(role, true)
		defer e.setHeld(role, false)
		err := run(ctx)
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}
	for ctx.Err() == nil {
		sess, err := e.acquire(ctx, role)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			e.log.Warn("leadership: cannot campaign; trying again", "role", role, "instance", e.o.Instance, "err", err, "in", e.o.Retry)
			e.pause(ctx)
			continue
		}
		done, err := e.hold(ctx, role, sess, run)
		if done {
			return nil
		}
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, errLost) {
			// Campaign again at once: the lock may be free already, and if
			// the database is down acquire fails and pauses.
			continue
		}
		e.log.Error("leadership: the role stopped with an error; released, campaigning again", "role", role,
			"instance", e.o.Instance, "err", err, "in", e.o.Retry)
		e.pause(ctx)
	}
	return nil
}

func (e *Elector) pause(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-e.clk.After(e.o.Retry):
	}
}

// session is a held lock: its connection, the lock's name and the
// server's id of the connection.
type session struct {
	conn *sql.Conn
	name string
	id   int64
}

// acquire waits until this instance holds role's lock, on a connection of
// its own that the caller must end with release.
func (e *Elector) acquire(ctx context.Context, role string) (*session, error) {
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	var id int64
	var database sql.NullString
	if err := conn.QueryRowContext(ctx, `SELECT DATABASE(), CONNECTION_ID()`).Scan(&database, &id); err != nil {
		drop(conn)
		return nil, err
	}
	name := LockName(database.String, role)
	secs := max(int(e.o.SessionTimeout/time.Second), 1)
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`SET SESSION wait_timeout = %d`, secs)); err != nil {
		drop(conn)
		return nil, err
	}
	wait := max(int(e.o.Wait/time.Second), 1)
	for {
		// GET_LOCK waits on the server and returns the moment the holder's
		// session ends: that, not a poll, is what makes failover fast.
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, `SELECT GET_LOCK(?, ?)`, name, wait).Scan(&got); err != nil {
			drop(conn)
			return nil, err
		}
		if got.Valid && got.Int64 == 1 {
			return &session{conn: conn, name: name, id: id}, nil
		}
		if !got.Valid {
			drop(conn)
			return nil, fmt.Errorf("GET_LOCK(%q) failed on the server", name)
		}
		if ctx.Err() != nil {
			drop(conn)
			return nil, ctx.Err()
		}
	}
}

// hold runs the role while the lock is held. done is true when run ended
// by itself without an error (Lead returns).
func (e *Elector) hold(ctx context.Context, role string, sess *session, run func(context.Context) error) (done bool, err error) {
	roleCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	e.setHeld(role, true)
	e.log.Info("leadership won", "role", role, "instance", e.o.Instance, "lock", sess.name)
	ended := make(chan error, 1)
	go func() { ended <- run(roleCtx) }()
	// One check at a time runs on the session; every exit stops the role
	// first and only then ends the check and the session (cancelling a
	// query makes the driver close the connection, which frees the lock:
	// another instance must not start before this one has stopped).
	wctx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWatch()
	watch := func() <-chan error {
		c := make(chan error, 1)
		go func() { c <- e.check(wctx, sess) }()
		return c
	}
	checking, overdue := watch(), e.clk.After(e.checkTimeout())
	for {
		select {
		case err := <-ended:
			e.setHeld(role, false)
			e.interrupt(sess)
			stopWatch()
			<-checking
			release(sess)
			if ctx.Err() == nil {
				e.log.Info("leadership released: the role ended", "role", role, "instance", e.o.Instance, "err", err)
			}
			if err == nil || (errors.Is(err, context.Canceled) && ctx.Err() != nil) {
				return ctx.Err() == nil && err == nil, nil
			}
			return false, err
		case <-ctx.Done():
			cancel()
			e.setHeld(role, false)
			<-ended
			e.interrupt(sess)
			stopWatch()
			<-checking
			release(sess)
			return true, nil
		case <-overdue:
			// The server has not answered within the check's time: this
			// instance cannot know its session survived. Stop acting now.
			cancel()
			e.setHeld(role, false)
			e.log.Warn("leadership lost: the database does not answer; the role stops now", "role", role,
				"instance", e.o.Instance, "after", e.checkTimeout())
			<-ended
			stopWatch()
			<-checking
			release(sess)
			if ctx.Err() != nil {
				return true, nil
			}
			return false, fmt.Errorf("%w: the database did not answer for %s", errLost, e.checkTimeout())
		case err := <-checking:
			if err == nil {
				checking, overdue = watch(), e.clk.After(e.checkTimeout())
				continue
			}
			// Not acting any more comes first; the role's goroutines end next.
			cancel()
			e.setHeld(role, false)
			if ctx.Err() != nil {
				<-ended
				release(sess)
				return true, nil
			}
			e.log.Warn("leadership lost: the role stops now", "role", role, "instance", e.o.Instance, "err", err)
			<-ended
			release(sess)
			return false, fmt.Errorf("%w: %v", errLost, err)
		}
	}
}

// check waits one Check on the server (SLEEP) and then makes sure the lock
// is still held by conn's session. The SLEEP is what makes a lost session
// noticed at once rather than at the next check: a KILL, a server restart
// or failover ends it with an error there and then. A server that does not
// answer within another Check (at least a second) counts as lost: the
// holder cannot know whether its session survived, and by then the
// session's wait_timeout is running out on the server.
func (e *Elector) checkTimeout() time.Duration { return e.o.Check + max(e.o.Check, time.Second) }

func (e *Elector) check(ctx context.Context, sess *session) error {
	// A backstop only: hold gives up at checkTimeout, with the role
	// stopped first, and then cancels ctx.
	cctx, cancel := context.WithTimeout(ctx, e.checkTimeout()+time.Second)
	defer cancel()
	var slept sql.NullInt64
	if err := sess.conn.QueryRowContext(cctx, `SELECT SLEEP(?)`, e.o.Check.Seconds()).Scan(&slept); err != nil {
		return err
	}
	if slept.Int64 == 1 {
		if ctx.Err() != nil {
			return ctx.Err() // interrupt: this instance is letting go
		}
		return errors.New("the lock's session was interrupted (KILL QUERY)")
	}
	var mine sql.NullBool
	if err := sess.conn.QueryRowContext(cctx, `SELECT IS_USED_LOCK(?) = CONNECTION_ID()`, sess.name).Scan(&mine); err != nil {
		return err
	}
	if !mine.Valid || !mine.Bool {
		return errors.New("the lock belongs to another session")
	}
	return nil
}

// interrupt ends the check's SLEEP from another connection, so that
// letting go of a role frees its lock now rather than after the SLEEP: the
// server does not see a client leave while it sleeps for it.
func (e *Elector) interrupt(sess *session) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, _ = e.db.ExecContext(ctx, fmt.Sprintf(`KILL QUERY %d`, sess.id))
}

// release gives the lock back and closes the session (never returning it
// to the pool: it has its own wait_timeout, and ending the session is what
// frees a lock whatever happened to RELEASE_LOCK).
func release(sess *session) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, _ = sess.conn.ExecContext(ctx, `SELECT RELEASE_LOCK(?)`, sess.name)
	drop(sess.conn)
}

// drop closes conn's session instead of returning it to the pool.
func drop(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = conn.Close()
}

// LockName is the server-wide lock of role for the database (see
// store.LockName).
func LockName(database, role string) string { return store.LockName(database, role) }
