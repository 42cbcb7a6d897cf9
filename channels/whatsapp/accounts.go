package whatsapp

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"omnicc/domain"
	"omnicc/store"
)

// Account is a WhatsApp number omniccd answers on. Secrets (access_token,
// app_secret, verify_token, auth_token) are kept in the struct for the
// connector; Masked() is what the API shows.
type Account struct {
	ID       int64  `json:"id" db:"id"`
	Name     string `json:"name" db:"name"`
	Provider string `json:"provider" db:"provider"`
	QueueID  *int64 `json:"queue_id" db:"queue_id"`
	// ContactListID is the trigger: unknown senders become contacts of this
	// list, and every interaction of the account gets its contact.
	ContactListID *int64    `json:"contact_list_id" db:"contact_list_id"`
	PhoneNumberID string    `json:"phone_number_id,omitempty" db:"phone_number_id"`
	AccessToken   string    `json:"access_token,omitempty" db:"access_token"`
	AppSecret     string    `json:"app_secret,omitempty" db:"app_secret"`
	VerifyToken   string    `json:"verify_token,omitempty" db:"verify_token"`
	AccountSID    string    `json:"account_sid,omitempty" db:"account_sid"`
	AuthToken     string    `json:"auth_token,omitempty" db:"auth_token"`
	From          string    `json:"from,omitempty" db:"from_number"`
	APIBaseURL    string    `json:"api_base_url" db:"api_base_url"`
	CreatedAt     time.Time `json:"created_at" db:"created_at"`
	UpdatedAt     time.Time `json:"updated_at" db:"updated_at"`
}

// AccountInput creates or (with nil fields left alone) updates an account.
type AccountInput struct {
	Name          *string `json:"name"`
	Provider      *string `json:"provider"`
	QueueID       *int64  `json:"queue_id"`
	ContactListID *int64  `json:"contact_list_id"`
	PhoneNumberID *string `json:"phone_number_id"`
	AccessToken   *string `json:"access_token"`
	AppSecret     *string `json:"app_secret"`
	VerifyToken   *string `json:"verify_token"`
	AccountSID    *string `json:"account_sid"`
	AuthToken     *string `json:"auth_token"`
	From          *string `json:"from"`
	APIBaseURL    *string `json:"api_base_url"`
}

// Masked is the account as the API shows it: a secret is never echoed back
// in full, only its last four characters, so an admin can tell which one is set.
func (a Account) Masked() Account {
	a.AccessToken = mask(a.AccessToken)
	a.AppSecret = mask(a.AppSecret)
	a.VerifyToken = mask(a.VerifyToken)
	a.AuthToken = mask(a.AuthToken)
	return a
}

func mask(s string) string {
	if s == "" {
		return ""
	}
	if len(s) <= 8 {
		return "****"
	}
	return "****" + s[len(s)-4:]
}

func (in AccountInput) apply(a *Account) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = strings.TrimSpace(*v)
		}
	}
	set(&a.Name, in.Name)
	set(&a.Provider, in.Provider)
	if in.QueueID != nil {
		if *in.QueueID == 0 {
			a.QueueID = nil
		} else {
			q := *in.QueueID
			a.QueueID = &q
		}
	}
	if in.ContactListID != nil {
		if *in.ContactListID == 0 {
			a.ContactListID = nil
		} else {
			l := *in.ContactListID
			a.ContactListID = &l
		}
	}
	set(&a.PhoneNumberID, in.PhoneNumberID)
	set(&a.AccessToken, in.AccessToken)
	set(&a.AppSecret, in.AppSecret)
	set(&a.VerifyToken, in.VerifyToken)
	set(&a.AccountSID, in.AccountSID)
	set(&a.AuthToken, in.AuthToken)
	set(&a.From, in.From)
	set(&a.APIBaseURL, in.APIBaseURL)
}

func (a *Account) validate() error {
	if a.Name == "" {
		return domain.FieldErrorf("name", "is required")
	}
	switch a.Provider {
	case ProviderMeta:
		if a.APIBaseURL == "" {
			a.APIBaseURL = DefaultMetaBaseURL
		}
		for _, f := range []struct{ name, v string }{
			{"phone_number_id", a.PhoneNumberID}, {"access_token", a.AccessToken},
			{"app_secret", a.AppSecret}, {"verify_token", a.VerifyToken},
		} {
			if f.v == "" {
				return domain.FieldErrorf(f.name, "is required for provider meta")
			}
		}
	case ProviderTwilio:
		if a.APIBaseURL == "" {
			a.APIBaseURL = DefaultTwilioBaseURL
		}
		for _, f := range []struct{ name, v string }{
			{"account_sid", a.AccountSID}, {"auth_token", a.AuthToken}, {"from", a.From},
		} {
			if f.v == "" {
				return domain.FieldErrorf(f.name, "is required for provider twilio")
			}
		}
	case "":
		return domain.FieldErrorf("provider", "is required: meta or twilio")
	default:
		return domain.FieldErrorf("provider", "%q is not meta or twilio", a.Provider)
	}
	u, err := url.Parse(a.APIBaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return domain.FieldErrorf("api_base_url", "%q must be an absolute http(s) URL", a.APIBaseURL)
	}
	a.APIBaseURL = strings.TrimRight(a.APIBaseURL, "/")
	if a.QueueID != nil && *a.QueueID < 0 {
		return domain.FieldErrorf("queue_id", "must be a queue id")
	}
	if a.ContactListID != nil && *a.ContactListID < 0 {
		return domain.FieldErrorf("contact_list_id", "must be a contact list id")
	}
	return nil
}

const accountColumns = `id, name, provider, queue_id, contact_list_id, phone_number_id, COALESCE(access_token, '') AS access_token,
	app_secret, verify_token, account_sid, auth_token, from_number, api_base_url, created_at, updated_at`

// Accounts lists every account (secrets included: mask before showing).
func (s *Store) Accounts(ctx context.Context) ([]Account, error) {
	var out []Account
	if err := s.db.SelectContext(ctx, &out, `SELECT `+accountColumns+` FROM whatsapp_accounts ORDER BY id`); err != nil {
		return nil, fmt.Errorf("whatsapp: list accounts: %w", err)
	}
	return out, nil
}

// Account loads one account.
func (s *Store) Account(ctx context.Context, id int64) (Account, error) {
	var a Account
	err := s.db.GetContext(ctx, &a, `SELECT `+accountColumns+` FROM whatsapp_accounts WHERE id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("whatsapp account %d: %w", id, domain.ErrNotFound)
	}
	if err != nil {
		return a, fmt.Errorf("whatsapp: load account %d: %w", id, err)
	}
	return a, nil
}

// CreateAccount validates and stores a new account.
func (s *Store) CreateAccount(ctx context.Context, in AccountInput) (Account, error) {
	var a Account
	in.apply(&a)
	if err := a.validate(); err != nil {
		return a, err
	}
	now := s.clock.Now().UTC()
	res, err := s.db.ExecContext(ctx, `INSERT INTO whatsapp_accounts (name, provider, queue_id, contact_list_id, phone_number_id,
		access_token, app_secret, verify_token, account_sid, auth_token, from_number, api_base_url, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.Name, a.Provider, a.QueueID, a.ContactListID, a.PhoneNumberID, a.AccessToken, a.AppSecret, a.VerifyToken,
		a.AccountSID, a.AuthToken, a.From, a.APIBaseURL, now, now)
	if store.IsUniqueViolation(err) {
		return a, &domain.ConflictError{Field: "name", Value: a.Name}
	}
	if err != nil {
		return a, fmt.Errorf("whatsapp: create account: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return a, err
	}
	return s.Account(ctx, id)
}

// UpdateAccount changes the fields given; the provider's rules are checked
// on the result.
func (s *Store) UpdateAccount(ctx context.Context, id int64, in AccountInput) (Account, error) {
	a, err := s.Account(ctx, id)
	if err != nil {
		return a, err
	}
	in.apply(&a)
	if err := a.validate(); err != nil {
		return a, err
	}
	_, err = s.db.ExecContext(ctx, `UPDATE whatsapp_accounts SET name = ?, provider = ?, queue_id = ?, contact_list_id = ?,
		phone_number_id = ?, access_token = ?, app_secret = ?, verify_token = ?, account_sid = ?, auth_token = ?, from_number = ?,
		api_base_url = ?, updated_at = ? WHERE id = ?`,
		a.Name, a.Provider, a.QueueID, a.ContactListID, a.PhoneNumberID, a.AccessToken, a.AppSecret, a.VerifyToken,
		a.AccountSID, a.AuthToken, a.From, a.APIBaseURL, s.clock.Now().UTC(), id)
	if store.IsUniqueViolation(err) {
		return a, &domain.ConflictError{Field: "name", Value: a.Name}
	}
	if err != nil {
		return a, fmt.Errorf("whatsapp: update account %d: %w", id, err)
	}
	return s.Account(ctx, id)
}

// DeleteAccount removes an account with its messages and templates.
func (s *Store) DeleteAccount(ctx context.Context, id int64) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM whatsapp_accounts WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("whatsapp: delete account %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("whatsapp account %d: %w", id, domain.ErrNotFound)
	}
	return nil
}

// AccountByPhoneNumberID finds the Meta account of a phone number id: one
// Meta app may send the webhooks of several numbers to one URL.
func (s *Store) AccountByPhoneNumberID(ctx context.Context, phoneNumberID string) (Account, error) {
	var a Account
	err := s.db.GetContext(ctx, &a, `SELECT `+accountColumns+` FROM whatsapp_accounts WHERE provider = 'meta' AND phone_number_id = ? ORDER BY id LIMIT 1`, phoneNumberID)
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("whatsapp account with phone_number_id %s: %w", phoneNumberID, domain.ErrNotFound)
	}
	return a, err
}
