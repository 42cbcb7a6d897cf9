package presence

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"omnicc/directory"
)

// ErrBadCredentials: the extension and PIN typed on a phone match no agent.
// The same error covers an unknown extension and a wrong PIN, so that a
// caller cannot tell which extensions exist.
var ErrBadCredentials = errors.New("presence: no agent with that extension and PIN")

// SetPIN sets the PIN an agent types on a phone to log in through FastAGI
// /agent-login: 4 to 12 digits, stored as a bcrypt hash in agent_pins.
func (s *Service) SetPIN(ctx context.Context, agentID int64, pin string) error {
	if len(pin) < 4 || len(pin) > 12 {
		return &directory.FieldError{Field: "pin", Message: "must be 4 to 12 digits"}
	}
	for i := 0; i < len(pin); i++ {
		if pin[i] < '0' || pin[i] > '9' {
			return &directory.FieldError{Field: "pin", Message: "must be digits only: it is typed on a phone keypad"}
		}
	}
	if _, err := s.refreshAgent(ctx, agentID); err != nil {
		return err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(pin), s.pinCost())
	if err != nil {
		return fmt.Errorf("presence: hash the PIN: %w", err)
	}
	now := s.clock.Now().UTC().Truncate(time.Microsecond)
	res, err := s.db.ExecContext(ctx, `UPDATE agent_pins SET pin_hash = ?, updated_at = ? WHERE agent_id = ?`, string(hash), now, agentID)
	if err != nil {
		return fmt.Errorf("presence: store the PIN of agent %d: %w", agentID, err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO agent_pins (agent_id, pin_hash, updated_at) VALUES (?, ?, ?)`, agentID, string(hash), now); err != nil {
		return fmt.Errorf("presence: store the PIN of agent %d: %w", agentID, err)
	}
	return nil
}

func (s *Service) pinCost() int {
	if s.opts.PINCost > 0 {
		return s.opts.PINCost
	}
	return bcrypt.DefaultCost
}

// unknownExtensionHash is what a PIN typed for an unknown extension is
// compared against. bcrypt's work doubles with each cost step, so the hash
// must have the cost real PINs are set with: a cheaper one answers unknown
// extensions many times faster than wrong PINs, and timing then tells which
// extensions exist.
func (s *Service) unknownExtensionHash() []byte { return dummyPINHashes.forCost(s.pinCost()) }

// dummyPINHashes holds one dummy hash per cost, made on first use: a hash of
// a constant is the same for every Service, and making it costs as much as
// checking a PIN.
var dummyPINHashes = &dummyHashCache{byCost: map[int][]byte{}}

type dummyHashCache struct {
	mu     sync.Mutex
	byCost map[int][]byte
}

func (c *dummyHashCache) forCost(cost int) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.byCost[cost]
	if !ok {
		// Only a cost above bcrypt's maximum fails, and SetPIN then fails
		// too; the MinCost fallback keeps the comparison running.
		var err error
		if h, err = bcrypt.GenerateFromPassword([]byte("not-a-pin"), cost); err != nil {
			h, _ = bcrypt.GenerateFromPassword([]byte("not-a-pin"), bcrypt.MinCost)
		}
		c.byCost[cost] = h
	}
	return h
}

// AgentByPIN finds the agent with this internal extension and PIN.
func (s *Service) AgentByPIN(ctx context.Context, extension, pin string) (int64, error) {
	// Taken before the lookup so that the one call that makes it, known
	// extension or not, is not told apart by its time either.
	dummy := s.unknownExtensionHash()
	// The extension is the directory's; the PIN is presence's own table.
	id, err := s.dir.AgentIDByExtension(ctx, extension)
	var hash string
	if err == nil {
		err = s.db.GetContext(ctx, &hash, `SELECT pin_hash FROM agent_pins WHERE agent_id = ?`, id)
	}
	if errors.Is(err, sql.ErrNoRows) || errors.Is(err, directory.ErrNotFound) {
		_ = bcrypt.CompareHashAndPassword(dummy, []byte(pin))
		return 0, ErrBadCredentials
	}
	if err != nil {
		return 0, fmt.Errorf("presence: look up extension %q: %w", extension, err)
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(pin)) != nil {
		return 0, ErrBadCredentials
	}
	return id, nil
}

// ToggleLogin logs the agent with this extension and PIN in when it is
// logged out, and out when it is logged in: what a phone's login feature
// code does.
func (s *Service) ToggleLogin(ctx context.Context, extension, pin string) (agentID int64, loggedIn bool, res Result, err error) {
	id, err := s.AgentByPIN(ctx, extension, pin)
	if err != nil {
		return 0, false, Result{}, err
	}
	if s.Session(id) != nil {
		res, err = s.Logout(ctx, id, SourceAGI)
		return id, false, res, err
	}
	res, err = s.Login(ctx, id, SourceAGI)
	return id, err == nil, res, err
}
