package auth_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"

	"omnicc/auth"
	"omnicc/directory"
	"omnicc/store"
	"omnicc/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)

// fakeClock moves only when the test says so. Each After hands its timer to
// the test through waits, which tells the test that Run is between purges
// and lets it fire the timer.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	waits chan timer
}

type timer struct {
	d    time.Duration
	fire chan time.Time
}

func newClock() *fakeClock { return &fakeClock{now: t0, waits: make(chan timer, 4)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	tm := timer{d: d, fire: make(chan time.Time, 1)}
	c.waits <- tm
	return tm.fire
}

type rig struct {
	t     *testing.T
	db    *store.DB
	clock *fakeClock
	dir   *directory.Directory
	auth  *auth.Service
}

const goodPassword = "Str0ng-Pass"

func newRig(t *testing.T, db *store.DB, suite bool, opts auth.Options) *rig {
	t.Helper()
	r := &rig{t: t, db: db, clock: newClock()}
	r.dir = directory.New(db, directory.Options{SecuritySuite: suite, BcryptCost: 4, Now: r.clock.Now})
	opts.Clock = r.clock
	r.auth = auth.New(db, r.dir, opts)
	return r
}

func ptr[T any](v T) *T { return &v }

func (r *rig) user(name string) int64 {
	r.t.Helper()
	u, err := r.dir.CreateUser(r.t.Context(), directory.UserInput{Role: ptr(string(directory.RoleSupervisor)),
		Username: ptr(name), FullName: ptr("User " + name), Password: ptr(goodPassword)})
	if err != nil {
		r.t.Fatal(err)
	}
	return u.ID
}

func (r *rig) login(name, password string) (string, error) {
	r.t.Helper()
	token, _, _, err := r.auth.Login(r.t.Context(), name, password)
	return token, err
}

func (r *rig) invite(userID int64) (string, time.Time) {
	r.t.Helper()
	token, exp, err := r.auth.CreateInvitation(r.t.Context(), userID)
	if err != nil {
		r.t.Fatal(err)
	}
	return token, exp
}

func (r *rig) count(table string) int {
	r.t.Helper()
	var n int
	// table is one of the test's constants, never input.
	if err := r.db.GetContext(r.t.Context(), &n, `SELECT COUNT(*) FROM `+table); err != nil {
		r.t.Fatal(err)
	}
	return n
}

func TestTokenExpiresAndLogoutRevokes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db, true, auth.Options{TokenTTL: time.Hour})
		id := r.user("sue")
		token, exp, p, err := r.auth.Login(t.Context(), "sue", goodPassword)
		if err != nil || p.UserID != id || !exp.Equal(t0.Add(time.Hour)) {
			t.Fatalf("login: %v %v %+v", err, exp, p)
		}
		r.clock.Set(exp.Add(-time.Second))
		if got, err := r.auth.Authenticate(t.Context(), token); err != nil || got.Username != "sue" {
			t.Fatalf("a second before expiry: %+v %v", got, err)
		}
		r.clock.Set(exp)
		if _, err := r.auth.Authenticate(t.Context(), token); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Fatalf("at expiry: %v", err)
		}

		token, err = r.login("sue", goodPassword)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.auth.Logout(t.Context(), token); err != nil {
			t.Fatal(err)
		}
		if _, err := r.auth.Authenticate(t.Context(), token); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Fatalf("after logout: %v", err)
		}
		if _, err := r.auth.Authenticate(t.Context(), "omt_not-issued"); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Fatalf("unknown token: %v", err)
		}
	})
}

// Failed logins in a row lock the account at the threshold; a good login in
// between starts the count again; a locked account's open tokens stop
// working at once and its right password is refused.
func TestLoginLockout(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db, true, auth.Options{LockoutThreshold: 3})
		r.user("sue")
		if _, err := r.login("nobody", goodPassword); !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Fatalf("unknown user: %v", err)
		}
		for i := 0; i < 2; i++ {
			if _, err := r.login("sue", "wrong"); !errors.Is(err, auth.ErrInvalidCredentials) {
				t.Fatalf("wrong password %d: %v", i+1, err)
			}
		}
		open, err := r.login("sue", goodPassword) // resets the count
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ {
			if _, err := r.login("sue", "wrong"); !errors.Is(err, auth.ErrInvalidCredentials) {
				t.Fatalf("wrong password %d after a good login: %v", i+1, err)
			}
		}
		if _, err := r.login("sue", "wrong"); !errors.Is(err, auth.ErrLocked) {
			t.Fatalf("third wrong password in a row: %v", err)
		}
		if _, err := r.login("sue", goodPassword); !errors.Is(err, auth.ErrLocked) {
			t.Fatalf("right password on a locked account: %v", err)
		}
		if _, err := r.auth.Authenticate(t.Context(), open); !errors.Is(err, auth.ErrLocked) {
			t.Fatalf("token of a locked account: %v", err)
		}
	})
}

// An unknown username is compared against a hash of the cost real ones
// have, so that it is refused as slowly as a wrong password.
func TestUnknownUserHashHasThePasswordCost(t *testing.T) {
	r := newRig(t, storetest.SQLite(t), true, auth.Options{})
	r.user("sue")
	c, err := r.dir.Credentials(t.Context(), "sue")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := bcrypt.Cost([]byte(c.PasswordHash))
	if got, err := bcrypt.Cost([]byte(r.auth.UnknownUserHash())); err != nil || got != want {
		t.Fatalf("unknown users checked against cost %d (%v), passwords hashed at %d", got, err, want)
	}
}

// The password set through an invitation obeys OMNICC_SECURITY_SUITE like
// every other, and a refused one leaves the link usable.
func TestInvitationPasswordFollowsSecuritySuite(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		for _, c := range []struct {
			name   string
			suite  bool
			weakOK bool
		}{{"suite on", true, false}, {"suite off", false, true}} {
			t.Run(c.name, func(t *testing.T) {
				r := newRig(t, db, c.suite, auth.Options{})
				name := map[bool]string{true: "on", false: "off"}[c.suite]
				id := r.user(name)
				token, _ := r.invite(id)
				got, err := r.auth.AcceptInvitation(t.Context(), token, "weak")
				if c.weakOK {
					if err != nil || got != id {
						t.Fatalf("weak password with the suite off: %d %v", got, err)
					}
					if _, err := r.login(name, "weak"); err != nil {
						t.Fatalf("login with the invitation's password: %v", err)
					}
					return
				}
				var fe *directory.FieldError
				if !errors.As(err, &fe) || fe.Field != "password" {
					t.Fatalf("weak password with the suite on: %v", err)
				}
				if got, err := r.auth.AcceptInvitation(t.Context(), token, "N3w-Password"); err != nil || got != id {
					t.Fatalf("the link after a refused password: %d %v", got, err)
				}
				if _, err := r.login(name, "N3w-Password"); err != nil {
					t.Fatalf("login with the invitation's password: %v", err)
				}
				if _, err := r.auth.AcceptInvitation(t.Context(), token, "0th3r-Password"); !errors.Is(err, auth.ErrInvitation) {
					t.Fatalf("the link used twice: %v", err)
				}
			})
		}
	})
}

func TestInvitationExpiresAndIsSuperseded(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db, true, auth.Options{InvitationTTL: time.Hour})
		id := r.user("sue")
		old, _ := r.invite(id)
		token, exp := r.invite(id)
		if !exp.Equal(t0.Add(time.Hour)) {
			t.Fatalf("expires %v", exp)
		}
		if _, err := r.auth.AcceptInvitation(t.Context(), old, "N3w-Password"); !errors.Is(err, auth.ErrInvitation) {
			t.Fatalf("a superseded link: %v", err)
		}
		if _, err := r.auth.AcceptInvitation(t.Context(), "omi_never-issued", "N3w-Password"); !errors.Is(err, auth.ErrInvitation) {
			t.Fatalf("an unknown link: %v", err)
		}
		r.clock.Set(exp)
		if _, err := r.auth.AcceptInvitation(t.Context(), token, "N3w-Password"); !errors.Is(err, auth.ErrInvitation) {
			t.Fatalf("at expiry: %v", err)
		}
		r.clock.Set(exp.Add(-time.Second))
		if got, err := r.auth.AcceptInvitation(t.Context(), token, "N3w-Password"); err != nil || got != id {
			t.Fatalf("a second before expiry: %d %v", got, err)
		}
	})
}

// The invitation is spent in the transaction that sets the password: when
// the password cannot be written, the link still works afterwards.
func TestInvitationNotBurnedByAFailedPasswordWrite(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db, true, auth.Options{})
		id := r.user("sue")
		token, _ := r.invite(id)
		// A trigger stands in for any failure of the write (a lost
		// connection, a full disk): each engine has its own syntax.
		refuse := map[store.Dialect]string{
			store.SQLite: `CREATE TRIGGER users_read_only BEFORE UPDATE ON users BEGIN SELECT RAISE(ABORT, 'users are read-only in this test'); END`,
			store.MySQL:  `CREATE TRIGGER users_read_only BEFORE UPDATE ON users FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'users are read-only in this test'`,
		}[db.Dialect]
		if _, err := db.ExecContext(t.Context(), refuse); err != nil {
			t.Fatal(err)
		}
		if _, err := r.auth.AcceptInvitation(t.Context(), token, "N3w-Password"); err == nil || errors.Is(err, auth.ErrInvitation) {
			t.Fatalf("accept while the password cannot be written: %v", err)
		}
		if _, err := db.ExecContext(t.Context(), `DROP TRIGGER users_read_only`); err != nil {
			t.Fatal(err)
		}
		if got, err := r.auth.AcceptInvitation(t.Context(), token, "N3w-Password"); err != nil || got != id {
			t.Fatalf("the link after the failed write: %d %v", got, err)
		}
		if _, err := r.login("sue", "N3w-Password"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestPurge(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db, true, auth.Options{TokenTTL: 12 * time.Hour, InvitationTTL: 72 * time.Hour, PurgeInterval: 6 * time.Hour})
		ann, bob, cat := r.user("ann"), r.user("bob"), r.user("cat")
		if _, err := r.login("ann", goodPassword); err != nil { // expires at t0+12h
			t.Fatal(err)
		}
		revoked, err := r.login("bob", goodPassword) // revoked, expires at t0+12h too
		if err != nil {
			t.Fatal(err)
		}
		if err := r.auth.Logout(t.Context(), revoked); err != nil {
			t.Fatal(err)
		}
		r.invite(ann) // superseded by the next
		live, _ := r.invite(ann)
		spent, _ := r.invite(bob)
		if _, err := r.auth.AcceptInvitation(t.Context(), spent, "N3w-Password"); err != nil {
			t.Fatal(err)
		}
		r.clock.Set(t0.Add(6 * time.Hour))
		late, _ := r.invite(cat)                                // expires at t0+78h
		if _, err := r.login("cat", goodPassword); err != nil { // expires at t0+18h
			t.Fatal(err)
		}

		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- r.auth.Run(ctx) }()
		// Each purge is followed by a wait: receiving it means the purge is done.
		next := func() timer {
			tm := <-r.clock.waits
			if tm.d != 6*time.Hour {
				t.Errorf("Run waits %v between purges, want PurgeInterval 6h", tm.d)
			}
			return tm
		}
		check := func(when string, tokens, invitations int) {
			t.Helper()
			if got := r.count("auth_tokens"); got != tokens {
				t.Errorf("%s: %d tokens, want %d", when, got, tokens)
			}
			if got := r.count("invitations"); got != invitations {
				t.Errorf("%s: %d invitations, want %d", when, got, invitations)
			}
		}
		tm := next()
		check("at start (superseded and spent invitations go)", 3, 2)

		r.clock.Set(t0.Add(12 * time.Hour))
		tm.fire <- r.clock.Now()
		tm = next()
		check("at t0+12h (ann's and bob's revoked token expired)", 1, 2)

		r.clock.Set(t0.Add(72 * time.Hour))
		tm.fire <- r.clock.Now()
		next()
		check("at t0+72h (cat's token and ann's invitation expired)", 0, 1)
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}

		r.clock.Set(t0.Add(72*time.Hour - time.Second))
		if _, err := r.auth.AcceptInvitation(t.Context(), live, "N3w-Password"); !errors.Is(err, auth.ErrInvitation) {
			t.Fatalf("a purged link: %v", err)
		}
		if got, err := r.auth.AcceptInvitation(t.Context(), late, "N3w-Password"); err != nil || got != cat {
			t.Fatalf("the link that outlived the purges: %d %v", got, err)
		}
		if n, m, err := r.auth.Purge(t.Context()); err != nil || n != 0 || m != 1 {
			t.Fatalf("Purge after accepting: %d tokens, %d invitations, %v; want 0, 1", n, m, err)
		}
	})
}

// Two accepts of one link at once: the transaction re-checks that it is
// unspent, so exactly one sets its password.
func TestInvitationAcceptedOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db, true, auth.Options{})
		id := r.user("sue")
		token, _ := r.invite(id)
		passwords := []string{"F1rst-Password", "S3cond-Password"}
		errs := make([]error, len(passwords))
		var wg sync.WaitGroup
		for i, pw := range passwords {
			wg.Go(func() { _, errs[i] = r.auth.AcceptInvitation(t.Context(), token, pw) })
		}
		wg.Wait()
		won := -1
		for i, err := range errs {
			switch {
			case err == nil && won < 0:
				won = i
			case !errors.Is(err, auth.ErrInvitation):
				t.Fatalf("accept %d: %v (all: %v)", i, err, errs)
			}
		}
		if won < 0 {
			t.Fatalf("no accept won: %v", errs)
		}
		if _, err := r.login("sue", passwords[won]); err != nil {
			t.Fatalf("login with the winner's password: %v", err)
		}
		if _, err := r.login("sue", passwords[1-won]); !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Fatalf("login with the loser's password: %v", err)
		}
	})
}
