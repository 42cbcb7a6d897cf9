package directory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"omnicc/store"
)

// User is an account of any role. Agents are users too; this view carries
// only what every account has, for login and the users admin API.
type User struct {
	ID                int64      `json:"id" db:"id"`
	Role              Role       `json:"role" db:"role"`
	Username          string     `json:"username" db:"username"`
	FullName          string     `json:"full_name" db:"full_name"`
	Email             string     `json:"email" db:"email"`
	Disabled          bool       `json:"disabled" db:"disabled"`
	Locked            bool       `json:"locked" db:"locked"`
	LastPasswordReset *time.Time `json:"last_password_reset" db:"last_password_reset"`
	// DeskEndpoint is the user's own phone, where listen, whisper and barge
	// ring when the request names none: PJSIP/<endpoint> or
	// Local/<number>@<context>.
	DeskEndpoint string    `json:"desk_endpoint" db:"desk_endpoint"`
	CreatedAt    time.Time `json:"created_at" db:"created_at"`
	UpdatedAt    time.Time `json:"updated_at" db:"updated_at"`
}

// UserInput creates or updates an admin or supervisor account.
type UserInput struct {
	Role     *string `json:"role"`
	Username *string `json:"username"`
	FullName *string `json:"full_name"`
	Email    *string `json:"email"`
	Password *string `json:"password"`
	Disabled *bool   `json:"disabled"`
	Locked   *bool   `json:"locked"`
	// DeskEndpoint: "" clears it.
	DeskEndpoint *string `json:"desk_endpoint"`
}

const userSelect = `SELECT id, role, username, full_name, email, disabled, locked, last_password_reset, desk_endpoint, created_at, updated_at FROM users`

func (u *User) validate() error {
	if u.Role != RoleAdmin && u.Role != RoleSupervisor {
		return fieldErr("role", "%q must be admin or supervisor (agents are created under /agents)", u.Role)
	}
	switch {
	case strings.TrimSpace(u.FullName) == "" || len(u.FullName) > 255:
		return fieldErr("full_name", "is required (at most 255 characters)")
	case u.Username == "" || len(u.Username) > 64 || !usernameRe.MatchString(u.Username):
		return fieldErr("username", "%q must be 1-64 letters, digits, '.' or '_'", u.Username)
	}
	// A supervisor's name is the callerid of its spy and click-to-call legs.
	if err := oneLine("full_name", u.FullName); err != nil {
		return err
	}
	if u.Email != "" {
		if m, err := mail.ParseAddress(u.Email); err != nil || m.Address != u.Email {
			return fieldErr("email", "%q is not an e-mail address", u.Email)
		}
	}
	// Its Asterisk shape is the API's to check (asterisk.IsPhone: the core
	// does not speak Asterisk); here only what no phone can hold.
	if len(u.DeskEndpoint) > 128 {
		return fieldErr("desk_endpoint", "is at most 128 characters")
	}
	return oneLine("desk_endpoint", u.DeskEndpoint)
}

// CreateUser adds an admin or supervisor.
func (d *Directory) CreateUser(ctx context.Context, in UserInput) (*User, error) {
	u := User{}
	if in.Role != nil {
		u.Role = Role(*in.Role)
	}
	set(&u.Username, in.Username)
	set(&u.FullName, in.FullName)
	set(&u.Email, in.Email)
	set(&u.Disabled, in.Disabled)
	set(&u.DeskEndpoint, in.DeskEndpoint)
	if err := u.validate(); err != nil {
		return nil, err
	}
	if in.Password == nil {
		return nil, fieldErr("password", "is required")
	}
	if err := CheckPasswordPolicy("password", *in.Password, d.opts.SecuritySuite); err != nil {
		return nil, err
	}
	return d.insertUser(ctx, u, *in.Password)
}

func (d *Directory) insertUser(ctx context.Context, u User, password string) (*User, error) {
	hash, err := HashPassword(password, d.opts.BcryptCost)
	if err != nil {
		return nil, err
	}
	now := d.now()
	u.CreatedAt, u.UpdatedAt, u.LastPasswordReset = now, now, &now
	res, err := d.db.ExecContext(ctx, `INSERT INTO users (role, username, full_name, email, password_hash, disabled,
		last_password_reset, desk_endpoint, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.Role, u.Username, u.FullName, u.Email, hash, u.Disabled, now, u.DeskEndpoint, now, now)
	if store.IsUniqueViolation(err) {
		return nil, &ConflictError{Field: "username", Value: u.Username}
	}
	if err != nil {
		return nil, err
	}
	if u.ID, err = res.LastInsertId(); err != nil {
		return nil, err
	}
	d.notify(Change{Entity: "user", Op: "create", ID: u.ID})
	return &u, nil
}

// EnsureAdmin creates the user "admin" on first start. With an empty
// password a random one is generated and returned so the caller can print
// it once; it is never stored in clear.
func (d *Directory) EnsureAdmin(ctx context.Context, password string) (created bool, generated string, err error) {
	var n int
	if err := d.db.GetContext(ctx, &n, `SELECT COUNT(*) FROM users WHERE role = ?`, RoleAdmin); err != nil {
		return false, "", err
	}
	if n > 0 {
		return false, "", nil
	}
	if password == "" {
		generated = GeneratePassword()
		password = generated
	} else if err := CheckPasswordPolicy("OMNICC_ADMIN_PASSWORD", password, d.opts.SecuritySuite); err != nil {
		return false, "", err
	}
	_, err = d.insertUser(ctx, User{Role: RoleAdmin, Username: "admin", FullName: "Administrator"}, password)
	var ce *ConflictError
	if errors.As(err, &ce) {
		return false, "", fmt.Errorf("a non-admin user is already called admin: rename it or create an admin through the API")
	}
	return err == nil, generated, err
}

// User returns one account of any role.
func (d *Directory) User(ctx context.Context, id int64) (*User, error) {
	var u User
	if err := getByID(ctx, d.db, &u, userSelect+` WHERE id = ?`, id, "user"); err != nil {
		return nil, err
	}
	return &u, nil
}

// ListUsers lists accounts, optionally of one role.
func (d *Directory) ListUsers(ctx context.Context, role string, page, perPage int) ([]User, int, error) {
	cond, args := "", []any{}
	if role != "" {
		cond, args = " WHERE role = ?", append(args, role)
	}
	page, per, err := pageBounds(page, perPage)
	if err != nil {
		return nil, 0, err
	}
	var total int
	if err := d.db.GetContext(ctx, &total, `SELECT COUNT(*) FROM users`+cond, args...); err != nil {
		return nil, 0, err
	}
	out := []User{}
	err = d.db.SelectContext(ctx, &out, userSelect+cond+` ORDER BY id LIMIT ? OFFSET ?`, append(args, per, (page-1)*per)...)
	return out, total, err
}

// UpdateUser changes an admin or supervisor account (agents go through
// UpdateAgent, which also keeps their Asterisk rows in step).
func (d *Directory) UpdateUser(ctx context.Context, id int64, in UserInput) (*User, error) {
	var out *User
	err := d.db.InTx(ctx, func(tx *sqlx.Tx) error {
		var u User
		if err := tx.GetContext(ctx, &u, userSelect+` WHERE id = ?`, id); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("user %d: %w", id, ErrNotFound)
			}
			return err
		}
		if u.Role == RoleAgent {
			return fieldErr("id", "user %d is an agent: change it under /agents/%d", id, id)
		}
		wasLocked := u.Locked
		if in.Role != nil {
			u.Role = Role(*in.Role)
		}
		set(&u.Username, in.Username)
		set(&u.FullName, in.FullName)
		set(&u.Email, in.Email)
		set(&u.Disabled, in.Disabled)
		set(&u.Locked, in.Locked)
		set(&u.DeskEndpoint, in.DeskEndpoint)
		if err := u.validate(); err != nil {
			return err
		}
		u.UpdatedAt = d.now()
		if _, err := tx.ExecContext(ctx, `UPDATE users SET role = ?, username = ?, full_name = ?, email = ?, disabled = ?,
			locked = ?, desk_endpoint = ?, updated_at = ? WHERE id = ?`, u.Role, u.Username, u.FullName, u.Email, u.Disabled, u.Locked,
			u.DeskEndpoint, u.UpdatedAt, id); err != nil {
			if store.IsUniqueViolation(err) {
				return &ConflictError{Field: "username", Value: u.Username}
			}
			return err
		}
		if wasLocked && !u.Locked {
			if _, err := tx.ExecContext(ctx, `UPDATE users SET failed_logins = 0 WHERE id = ?`, id); err != nil {
				return err
			}
		}
		if in.Password != nil {
			if err := d.setPassword(ctx, tx, id, *in.Password); err != nil {
				return err
			}
		}
		if err := d.keepOneAdmin(ctx, tx); err != nil {
			return err
		}
		out = &u
		return nil
	})
	if err != nil {
		return nil, err
	}
	d.notify(Change{Entity: "user", Op: "update", ID: id})
	return out, nil
}

// ErrLastAdmin refuses a change that would leave no enabled admin: nobody
// could then manage users, and only OMNICC_ADMIN_PASSWORD at a restart
// with an empty users table would recover.
var ErrLastAdmin = errors.New("this is the last enabled admin: make another user admin first")

// keepOneAdmin refuses a change that would leave nobody able to administer.
func (d *Directory) keepOneAdmin(ctx context.Context, tx *sqlx.Tx) error {
	var n int
	if err := tx.GetContext(ctx, &n, `SELECT COUNT(*) FROM users WHERE role = ? AND disabled = ?`, RoleAdmin, false); err != nil {
		return err
	}
	if n == 0 {
		return ErrLastAdmin
	}
	return nil
}

// DeleteUser removes an admin or supervisor account.
func (d *Directory) DeleteUser(ctx context.Context, id int64) error {
	err := d.db.InTx(ctx, func(tx *sqlx.Tx) error {
		var role Role
		if err := tx.GetContext(ctx, &role, `SELECT role FROM users WHERE id = ?`, id); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("user %d: %w", id, ErrNotFound)
			}
			return err
		}
		if role == RoleAgent {
			return fieldErr("id", "user %d is an agent: delete it under /agents/%d", id, id)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id); err != nil {
			return err
		}
		return d.keepOneAdmin(ctx, tx)
	})
	if err != nil {
		return err
	}
	d.notify(Change{Entity: "user", Op: "delete", ID: id})
	return nil
}

func (d *Directory) setPassword(ctx context.Context, tx *sqlx.Tx, id int64, pw string) error {
	hash, err := d.NewPasswordHash("password", pw)
	if err != nil {
		return err
	}
	return d.StorePasswordHash(ctx, tx, id, hash)
}

// NewPasswordHash checks pw against the password policy that
// OMNICC_SECURITY_SUITE selects, naming field in its error, and hashes it.
// Hashing is slow by design, so a caller that stores the hash as part of a
// larger transaction makes it before beginning (see StorePasswordHash).
func (d *Directory) NewPasswordHash(field, pw string) (string, error) {
	if err := CheckPasswordPolicy(field, pw, d.opts.SecuritySuite); err != nil {
		return "", err
	}
	return HashPassword(pw, d.opts.BcryptCost)
}

// StorePasswordHash makes hash, from NewPasswordHash, the password of user
// id within tx, so that it commits or rolls back with the caller's change
// (an invitation spent by it).
func (d *Directory) StorePasswordHash(ctx context.Context, tx *sqlx.Tx, id int64, hash string) error {
	now := d.now()
	res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ?, last_password_reset = ?, updated_at = ? WHERE id = ?`,
		hash, now, now, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("user %d: %w", id, ErrNotFound)
	}
	return nil
}

// SetPassword replaces a user's password (invitation acceptance, resets).
func (d *Directory) SetPassword(ctx context.Context, id int64, pw string) error {
	return d.db.InTx(ctx, func(tx *sqlx.Tx) error { return d.setPassword(ctx, tx, id, pw) })
}

// Credentials is what login needs to decide.
type Credentials struct {
	ID           int64  `db:"id"`
	Role         Role   `db:"role"`
	Username     string `db:"username"`
	PasswordHash string `db:"password_hash"`
	Disabled     bool   `db:"disabled"`
	Locked       bool   `db:"locked"`
	FailedLogins int    `db:"failed_logins"`
}

// Credentials finds a user by username for login; ErrNotFound when none.
func (d *Directory) Credentials(ctx context.Context, username string) (*Credentials, error) {
	var c Credentials
	err := d.db.GetContext(ctx, &c, `SELECT id, role, username, password_hash, disabled, locked, failed_logins
		FROM users WHERE username = ?`, strings.TrimSpace(username))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return &c, err
}

// RecordFailedLogin counts a bad password and locks the account when the
// count reaches threshold. Both engines evaluate the CASE against the old
// count because it is assigned first.
func (d *Directory) RecordFailedLogin(ctx context.Context, id int64, threshold int) (locked bool, err error) {
	_, err = d.db.ExecContext(ctx, `UPDATE users SET locked = CASE WHEN failed_logins + 1 >= ? THEN 1 ELSE locked END,
		failed_logins = failed_logins + 1 WHERE id = ?`, threshold, id)
	if err != nil {
		return false, err
	}
	err = d.db.GetContext(ctx, &locked, `SELECT locked FROM users WHERE id = ?`, id)
	if err == nil && locked {
		d.notify(Change{Entity: "user", Op: "update", ID: id})
	}
	return locked, err
}

// RecordLogin clears the failed-login count after a successful login.
func (d *Directory) RecordLogin(ctx context.Context, id int64) error {
	_, err := d.db.ExecContext(ctx, `UPDATE users SET failed_logins = 0 WHERE id = ? AND failed_logins <> 0`, id)
	return err
}
