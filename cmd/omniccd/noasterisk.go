package main

import (
	"context"

	"omnicc/api"
	"omnicc/presence"
)

// AsteriskNotConfigured is Result.Asterisk when OMNICC_AMI names no box:
// the change is stored (an Asterisk added later gets it on its first
// reconcile), but unlike "pending" nothing is reconnecting, so a client
// should say that no telephone system is configured rather than wait.
const AsteriskNotConfigured = "not_configured"

// noAsterisk answers presence's results without an Asterisk: presence
// reports them as "pending" (it cannot tell "no box" from "box down"), and
// this wrapper, used only when the pool has no box, names the real cause.
type noAsterisk struct{ api.AgentPresence }

func notConfigured(r presence.Result, err error) (presence.Result, error) {
	if r.Asterisk == presence.AsteriskPending {
		r.Asterisk = AsteriskNotConfigured
	}
	return r, err
}

func (n noAsterisk) Login(ctx context.Context, agentID int64, source string) (presence.Result, error) {
	return notConfigured(n.AgentPresence.Login(ctx, agentID, source))
}

func (n noAsterisk) Logout(ctx context.Context, agentID int64, source string) (presence.Result, error) {
	return notConfigured(n.AgentPresence.Logout(ctx, agentID, source))
}

func (n noAsterisk) Pause(ctx context.Context, agentID int64, reason string, channels []string) (presence.Result, error) {
	return notConfigured(n.AgentPresence.Pause(ctx, agentID, reason, channels))
}

func (n noAsterisk) Unpause(ctx context.Context, agentID int64, channels []string) (presence.Result, error) {
	return notConfigured(n.AgentPresence.Unpause(ctx, agentID, channels))
}
