package agi

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"omnicc/directory"
	"omnicc/presence"
)

// AgentDesk is what /agent-login needs from presence (presence.Service).
type AgentDesk interface {
	AgentIDByChannel(channel string) (int64, bool)
	AgentByPIN(ctx context.Context, extension, pin string) (int64, error)
	Session(agentID int64) *presence.Session
	Login(ctx context.Context, agentID int64, source string) (presence.Result, error)
	Logout(ctx context.Context, agentID int64, source string) (presence.Result, error)
	Pause(ctx context.Context, agentID int64, reason string, channels []string) (presence.Result, error)
	Unpause(ctx context.Context, agentID int64, channels []string) (presence.Result, error)
}

// Prompts of /agent-login: Asterisk's core sounds.
const (
	promptAgentUser      = "agent-user"      // "agent login, please enter your agent number followed by the pound key"
	promptAgentPass      = "agent-pass"      // "please enter your password followed by the pound key"
	promptAgentIncorrect = "agent-incorrect" // "login incorrect, please enter your agent number..."
)

// agentLoginTries is how many extension/PIN attempts one call gets.
const agentLoginTries = 3

// AgentLogin serves agi://host/agent-login[,<action>[,<reason>]]: the agent
// feature codes of asterisk-conf's omnicc-features context.
//
// action is login, logout, pause, unpause or toggle (login when logged out,
// logout when logged in; the default when no argument is given). reason,
// for pause, is a pause type's name or id (*47<code>); none pauses without
// a type. Every action covers every channel, as the agent bar's pause
// button does.
//
// The agent is the one whose endpoint the call comes from (PJSIP/<username>).
// A call from elsewhere — an external or mobile agent dialling in through a
// trunk — is asked for the agent's extension and PIN (GET DATA, digits kept
// as typed; PUT /api/v1/agents/{id}/pin sets the PIN), three tries.
//
// It sets OMNICC_AGENT_ID and OMNICC_AGENT_STATE (the agent's state after
// the action: ready, paused, logged_out, …), or OMNICC_ERROR when it refuses.
// The session change follows the REST rules: stored first, applied to
// Asterisk, undone when Asterisk refuses it.
func AgentLogin(desk AgentDesk) Handler {
	return HandlerFunc(func(ctx context.Context, s *Session) error {
		req := s.Request()
		action, reason := "toggle", ""
		if len(req.Args) > 0 && strings.TrimSpace(req.Args[0]) != "" {
			action = strings.ToLower(strings.TrimSpace(req.Args[0]))
		}
		if len(req.Args) > 1 {
			reason = strings.TrimSpace(req.Args[1])
		}
		switch action {
		case "toggle", "login", "logout", "pause", "unpause":
		default:
			return &PublicError{Reason: "unknown action " + strconv.Quote(action) + "; use login, logout, pause, unpause or toggle"}
		}
		id, ok := desk.AgentIDByChannel(req.Channel)
		if !ok {
			var err error
			if id, err = askCredentials(ctx, s, desk); err != nil {
				return err
			}
		}
		if action == "toggle" {
			action = "login"
			if desk.Session(id) != nil {
				action = "logout"
			}
		}
		var (
			res presence.Result
			err error
		)
		switch action {
		case "login":
			res, err = desk.Login(ctx, id, presence.SourceAGI)
		case "logout":
			res, err = desk.Logout(ctx, id, presence.SourceAGI)
		case "pause":
			res, err = desk.Pause(ctx, id, reason, nil)
		case "unpause":
			res, err = desk.Unpause(ctx, id, nil)
		}
		if err != nil {
			return agentLoginError(action, err)
		}
		if err := s.SetVariable("OMNICC_AGENT_ID", strconv.FormatInt(id, 10)); err != nil {
			return err
		}
		return s.SetVariable("OMNICC_AGENT_STATE", res.State.State)
	})
}

// askCredentials prompts for the extension and PIN until they match an
// agent, at most agentLoginTries times.
func askCredentials(ctx context.Context, s *Session, desk AgentDesk) (int64, error) {
	if err := s.Answer(); err != nil {
		return 0, err
	}
	prompt := promptAgentUser
	for range agentLoginTries {
		ext, _, err := s.GetData(prompt, 5000, 10)
		if err != nil {
			return 0, err
		}
		pin, _, err := s.GetData(promptAgentPass, 5000, 12)
		if err != nil {
			return 0, err
		}
		id, err := desk.AgentByPIN(ctx, ext, pin)
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, presence.ErrBadCredentials) {
			return 0, err
		}
		s.Logger().Info("agent-login: wrong extension or PIN", "extension", ext)
		// agent-incorrect asks for the agent number again itself.
		prompt = promptAgentIncorrect
	}
	return 0, &PublicError{Reason: "wrong extension or PIN", Err: presence.ErrBadCredentials}
}

// agentLoginError turns a refusal into the reason the dialplan logs.
func agentLoginError(action string, err error) error {
	var (
		refused *presence.RefusedError
		fe      *directory.FieldError
	)
	switch {
	case errors.As(err, &refused):
		return &toldError{&PublicError{Reason: action + ": " + refused.Error(), Err: err}}
	case errors.As(err, &fe):
		return &toldError{&PublicError{Reason: action + ": " + fe.Error(), Err: err}}
	case errors.Is(err, presence.ErrNotLoggedIn):
		return &PublicError{Reason: action + ": agent is not logged in", Err: err}
	case errors.Is(err, presence.ErrAgentDisabled):
		return &PublicError{Reason: action + ": agent is disabled or locked", Err: err}
	case errors.Is(err, directory.ErrNotFound):
		return &PublicError{Reason: action + ": no such agent", Err: err}
	}
	return err
}

// toldError is a PublicError whose Reason already is its cause's message
// (Asterisk's words, a field error): PublicError's text would repeat it after
// the reason ("pause: reason: … : reason: …"), so it reads as the reason
// alone. errors.As still finds the PublicError and the cause beneath.
type toldError struct{ pub *PublicError }

func (e *toldError) Error() string {
	if strings.Contains(e.pub.Reason, e.pub.Err.Error()) {
		return e.pub.Reason
	}
	return e.pub.Error()
}

func (e *toldError) Unwrap() error { return e.pub }
