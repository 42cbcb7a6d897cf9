// Package auth decides who is calling the API: password logins that yield
// bearer tokens, API keys for integrations, invitation links, and the
// failed-login lockout. Secrets are stored only as SHA-256 hashes.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"omnicc/clock"
	"omnicc/directory"
	"omnicc/store"
)

var (
	// ErrInvalidCredentials covers an unknown user and a wrong password alike,
	// so the answer does not reveal which usernames exist.
	ErrInvalidCredentials = errors.New("invalid username or password")
	ErrLocked             = errors.New("account locked after too many failed logins: an admin must clear locked")
	ErrDisabled           = errors.New("account disabled")
	ErrUnauthenticated    = errors.New("missing, expired or revoked token")
	ErrInvitation         = errors.New("invitation link is unknown, used or expired")
	// ErrAPIKeyRevoked is ErrUnauthenticated for a key an admin revoked:
	// logging in again does not help its integration, a new key does.
	ErrAPIKeyRevoked = fmt.Errorf("%w: this API key was revoked", ErrUnauthenticated)
)

// Token prefixes make a leaked secret recognisable in logs and scanners.
const (
	tokenPrefix  = "omt_"
	apiKeyPrefix = "omk_"
	invitePrefix = "omi_"
)

// Principal is the authenticated caller.
type Principal struct {
	UserID   int64          `json:"user_id"`
	Role     directory.Role `json:"role"`
	Username string         `json:"username"`
	// APIKeyID is set when the caller used an API key instead of a login.
	APIKeyID int64 `json:"api_key_id,omitempty"`
}

// Clock is the time source: token and invitation expiry and the purge's
// interval follow it, so tests move time instead of sleeping.
type Clock = clock.Clock

// Options are the auth rules from configuration. The password policy
// (OMNICC_SECURITY_SUITE) is the directory's, so that one rule applies to
// every way a password is set.
type Options struct {
	LockoutThreshold int
	TokenTTL         time.Duration
	InvitationTTL    time.Duration
	// PurgeInterval is how often Run deletes expired tokens and spent or
	// expired invitations. Default 1h.
	PurgeInterval time.Duration
	Clock         Clock
	Logger        *slog.Logger
}

// Service issues and checks credentials.
type Service struct {
	db    *store.DB
	dir   *directory.Directory
	opts  Options
	log   *slog.Logger
	dummy string
}

// New builds the service.
func New(db *store.DB, dir *directory.Directory, opts Options) *Service {
	if opts.Clock == nil {
		opts.Clock = clock.Wall
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.PurgeInterval <= 0 {
		opts.PurgeInterval = time.Hour
	}
	if opts.LockoutThreshold == 0 {
		opts.LockoutThreshold = 5
	}
	if opts.TokenTTL == 0 {
		opts.TokenTTL = 12 * time.Hour
	}
	if opts.InvitationTTL == 0 {
		opts.InvitationTTL = 72 * time.Hour
	}
	// Comparing against a real hash for unknown users keeps their answer as
	// slow as a wrong password's; the directory makes it so that it has the
	// cost real passwords are hashed with. It meets the security suite.
	dummy, _ := dir.NewPasswordHash("dummy", "not-a-real-password-0A!")
	return &Service{db: db, dir: dir, opts: opts, log: opts.Logger, dummy: dummy}
}

func (s *Service) now() time.Time { return s.opts.Clock.Now().UTC().Truncate(time.Microsecond) }

func newSecret(prefix string) (secret, hash string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	secret = prefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, hashSecret(secret)
}

func hashSecret(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// Login checks a password and issues a bearer token. A locked account is
// refused even with the right password; each wrong password counts towards
// the lockout.
func (s *Service) Login(ctx context.Context, username, password string) (token string, expires time.Time, p Principal, err error) {
	c, err := s.dir.Credentials(ctx, username)
	if errors.Is(err, directory.ErrNotFound) {
		directory.PasswordMatches(s.dummy, password)
		return "", time.Time{}, p, ErrInvalidCredentials
	}
	if err != nil {
		return "", time.Time{}, p, err
	}
	if c.Locked {
		return "", time.Time{}, p, ErrLocked
	}
	if !directory.PasswordMatches(c.PasswordHash, password) {
		locked, err := s.dir.RecordFailedLogin(ctx, c.ID, s.opts.LockoutThreshold)
		if err != nil {
			return "", time.Time{}, p, err
		}
		if locked {
			return "", time.Time{}, p, ErrLocked
		}
		return "", time.Time{}, p, ErrInvalidCredentials
	}
	if c.Disabled {
		return "", time.Time{}, p, ErrDisabled
	}
	if err := s.dir.RecordLogin(ctx, c.ID); err != nil {
		return "", time.Time{}, p, err
	}
	token, hash := newSecret(tokenPrefix)
	now := s.now()
	expires = now.Add(s.opts.TokenTTL)
	if _, err := s.db.ExecContext(ctx, `INSERT INTO auth_tokens (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		hash, c.ID, now, expires); err != nil {
		return "", time.Time{}, p, err
	}
	return token, expires, Principal{UserID: c.ID, Role: c.Role, Username: c.Username}, nil
}

// Logout revokes the token; later requests with it are refused.
func (s *Service) Logout(ctx context.Context, token string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE auth_tokens SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL`,
		s.now(), hashSecret(token))
	return err
}

// Authenticate resolves a bearer token or API key to its principal. A user
// disabled or locked since the token was issued is refused at once.
func (s *Service) Authenticate(ctx context.Context, secret string) (Principal, error) {
	switch {
	case strings.HasPrefix(secret, tokenPrefix):
		var row struct {
			ExpiresAt time.Time      `db:"expires_at"`
			Revoked   sql.NullTime   `db:"revoked_at"`
			UserID    int64          `db:"user_id"`
			Role      directory.Role `db:"role"`
			Username  string         `db:"username"`
			Disabled  bool           `db:"disabled"`
			Locked    bool           `db:"locked"`
		}
		err := s.db.GetContext(ctx, &row, `SELECT t.expires_at, t.revoked_at, u.id AS user_id, u.role, u.username, u.disabled, u.locked
			FROM auth_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?`, hashSecret(secret))
		if errors.Is(err, sql.ErrNoRows) {
			return Principal{}, ErrUnauthenticated
		}
		if err != nil {
			return Principal{}, err
		}
		if row.Revoked.Valid || !s.now().Before(row.ExpiresAt) {
			return Principal{}, ErrUnauthenticated
		}
		if row.Locked {
			return Principal{}, ErrLocked
		}
		if row.Disabled {
			return Principal{}, ErrDisabled
		}
		return Principal{UserID: row.UserID, Role: row.Role, Username: row.Username}, nil
	case strings.HasPrefix(secret, apiKeyPrefix):
		var k APIKey
		err := s.db.GetContext(ctx, &k, `SELECT id, name, prefix, role, created_by, created_at, last_used_at, revoked_at
			FROM api_keys WHERE key_hash = ?`, hashSecret(secret))
		if errors.Is(err, sql.ErrNoRows) {
			return Principal{}, ErrUnauthenticated
		}
		if err != nil {
			return Principal{}, err
		}
		if k.RevokedAt != nil {
			return Principal{}, ErrAPIKeyRevoked
		}
		// An agent-role key acts as its agent (api_keys.agent_id), and stops
		// when the agent is disabled, locked or deleted.
		var agentID int64
		if k.Role == directory.RoleAgent {
			var u struct {
				ID       int64 `db:"id"`
				Disabled bool  `db:"disabled"`
				Locked   bool  `db:"locked"`
			}
			err := s.db.GetContext(ctx, &u, `SELECT u.id, u.disabled, u.locked FROM api_keys k JOIN users u ON u.id = k.agent_id WHERE k.id = ?`, k.ID)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				return Principal{}, ErrUnauthenticated
			case err != nil:
				return Principal{}, err
			case u.Locked:
				return Principal{}, ErrLocked
			case u.Disabled:
				return Principal{}, ErrDisabled
			}
			agentID = u.ID
		}
		// Admins look at last use to retire keys; once a minute is precise
		// enough and keeps integrations' requests from each writing a row.
		if now := s.now(); k.LastUsedAt == nil || now.Sub(*k.LastUsedAt) > time.Minute {
			if _, err := s.db.ExecContext(ctx, `UPDATE api_keys SET last_used_at = ? WHERE id = ?`, now, k.ID); err != nil {
				return Principal{}, err
			}
		}
		return Principal{UserID: agentID, Role: k.Role, Username: "api-key:" + k.Name, APIKeyID: k.ID}, nil
	}
	return Principal{}, ErrUnauthenticated
}

// APIKey is an integration's credential; the secret is shown once at creation.
type APIKey struct {
	ID         int64          `json:"id" db:"id"`
	Name       string         `json:"name" db:"name"`
	Prefix     string         `json:"prefix" db:"prefix"`
	Role       directory.Role `json:"role" db:"role"`
	CreatedBy  *int64         `json:"created_by" db:"created_by"`
	CreatedAt  time.Time      `json:"created_at" db:"created_at"`
	LastUsedAt *time.Time     `json:"last_used_at" db:"last_used_at"`
	RevokedAt  *time.Time     `json:"revoked_at" db:"revoked_at"`
}

// CreateAPIKey issues a key for an integration with the given role.
func (s *Service) CreateAPIKey(ctx context.Context, name string, role directory.Role, createdBy int64) (string, *APIKey, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 128 {
		return "", nil, &directory.FieldError{Field: "name", Message: "is required (at most 128 characters)"}
	}
	if role != directory.RoleAdmin && role != directory.RoleSupervisor && role != directory.RoleAgent {
		return "", nil, &directory.FieldError{Field: "role", Message: fmt.Sprintf("%q must be admin, supervisor or agent", role)}
	}
	secret, hash := newSecret(apiKeyPrefix)
	k := &APIKey{Name: name, Prefix: secret[:10], Role: role, CreatedAt: s.now()}
	if createdBy != 0 {
		k.CreatedBy = &createdBy
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO api_keys (name, key_hash, prefix, role, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		k.Name, hash, k.Prefix, k.Role, k.CreatedBy, k.CreatedAt)
	if err != nil {
		return "", nil, err
	}
	k.ID, err = res.LastInsertId()
	return secret, k, err
}

// ListAPIKeys lists every key, revoked ones included.
func (s *Service) ListAPIKeys(ctx context.Context) ([]APIKey, error) {
	out := []APIKey{}
	err := s.db.SelectContext(ctx, &out, `SELECT id, name, prefix, role, created_by, created_at, last_used_at, revoked_at FROM api_keys ORDER BY id`)
	return out, err
}

// RevokeAPIKey stops a key from working.
func (s *Service) RevokeAPIKey(ctx context.Context, id int64) error {
	res, err := s.db.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, s.now(), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("api key %d: %w", id, directory.ErrNotFound)
	}
	return nil
}

// CreateInvitation issues a one-time link token with which userID sets a
// password; earlier unused invitations of the user stop working.
func (s *Service) CreateInvitation(ctx context.Context, userID int64) (string, time.Time, error) {
	if _, err := s.dir.User(ctx, userID); err != nil {
		return "", time.Time{}, err
	}
	token, hash := newSecret(invitePrefix)
	now := s.now()
	exp := now.Add(s.opts.InvitationTTL)
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE invitations SET used_at = ? WHERE user_id = ? AND used_at IS NULL`, now, userID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO invitations (user_id, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?)`,
			userID, hash, now, exp)
		return err
	})
	return token, exp, err
}

// AcceptInvitation sets the invited user's password and spends the token,
// both in one transaction: a password the policy (OMNICC_SECURITY_SUITE)
// refuses, or a failed write, leaves the link usable for another try.
func (s *Service) AcceptInvitation(ctx context.Context, token, password string) (int64, error) {
	var inv struct {
		ID        int64      `db:"id"`
		UserID    int64      `db:"user_id"`
		ExpiresAt time.Time  `db:"expires_at"`
		UsedAt    *time.Time `db:"used_at"`
	}
	err := s.db.GetContext(ctx, &inv, `SELECT id, user_id, expires_at, used_at FROM invitations WHERE token_hash = ?`, hashSecret(token))
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrInvitation
	}
	if err != nil {
		return 0, fmt.Errorf("auth: read the invitation: %w", err)
	}
	if inv.UsedAt != nil || !s.now().Before(inv.ExpiresAt) {
		return 0, ErrInvitation
	}
	// Hashed before the transaction: bcrypt is slow by design, and SQLite
	// holds its write lock for the whole of one.
	hash, err := s.dir.NewPasswordHash("password", password)
	if err != nil {
		return 0, err
	}
	err = s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		// The conditions are checked again here: a concurrent accept of the
		// same link, or its expiry while the password was hashed, loses.
		now := s.now()
		res, err := tx.ExecContext(ctx, `UPDATE invitations SET used_at = ? WHERE id = ? AND used_at IS NULL AND expires_at > ?`,
			now, inv.ID, now)
		if err != nil {
			return fmt.Errorf("auth: spend the invitation: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrInvitation
		}
		return s.dir.StorePasswordHash(ctx, tx, inv.UserID, hash)
	})
	if err != nil {
		return 0, err
	}
	return inv.UserID, nil
}

// Purge deletes what can no longer be used: tokens past their expiry
// (revoked ones included, once expired) and invitations spent, superseded
// or expired. Either answers "unknown" afterwards, exactly as before.
func (s *Service) Purge(ctx context.Context) (tokens, invitations int64, err error) {
	now := s.now()
	res, err := s.db.ExecContext(ctx, `DELETE FROM auth_tokens WHERE expires_at <= ?`, now)
	if err != nil {
		return 0, 0, fmt.Errorf("auth: purge expired tokens: %w", err)
	}
	tokens, _ = res.RowsAffected()
	res, err = s.db.ExecContext(ctx, `DELETE FROM invitations WHERE used_at IS NOT NULL OR expires_at <= ?`, now)
	if err != nil {
		return tokens, 0, fmt.Errorf("auth: purge spent and expired invitations: %w", err)
	}
	invitations, _ = res.RowsAffected()
	return tokens, invitations, nil
}

// Run purges at once and then every PurgeInterval until ctx ends. A failed
// purge is logged and tried again at the next interval: stale rows are
// harmless for a while, and a database blip must not stop the daemon.
func (s *Service) Run(ctx context.Context) error {
	for {
		tokens, invitations, err := s.Purge(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			s.log.Warn("purge of expired credentials failed; retrying later", "err", err, "retry_in", s.opts.PurgeInterval)
		case tokens+invitations > 0:
			s.log.Info("purged expired credentials", "tokens", tokens, "invitations", invitations)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.opts.Clock.After(s.opts.PurgeInterval):
		}
	}
}
