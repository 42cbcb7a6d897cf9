package api_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"omnicc/api"
	"omnicc/auth"
)

// revocable is fakeAuth whose tokens can be revoked while connections live.
type revocable struct {
	mu      sync.Mutex
	revoked map[string]error
}

func (r *revocable) Authenticate(ctx context.Context, secret string) (auth.Principal, error) {
	r.mu.Lock()
	err := r.revoked[secret]
	r.mu.Unlock()
	if err != nil {
		return auth.Principal{}, err
	}
	return wsUsers.Authenticate(ctx, secret)
}

func (r *revocable) revoke(secret string, err error) {
	r.mu.Lock()
	r.revoked[secret] = err
	r.mu.Unlock()
}

// A logout (or a disabled account) ends that user's open websocket; the
// others stay connected.
func TestWebsocketClosesWhenTheCredentialGoes(t *testing.T) {
	creds := &revocable{revoked: map[string]error{}}
	e := newWSEnv(t, func(o *api.HubOptions) {
		o.Auth = creds
		o.RecheckEvery = 50 * time.Millisecond
	})
	alice := e.connect("omt_agent7")
	bob := e.connect("omt_agent8")
	e.connect("omt_sup") // connect has read each hello

	creds.revoke("omt_agent7", auth.ErrUnauthenticated)
	if code, text := closeCode(t, alice); code != websocket.ClosePolicyViolation {
		t.Fatalf("revoked token: close %d %q, want 1008", code, text)
	}
	creds.revoke("omt_agent8", auth.ErrDisabled)
	if code, text := closeCode(t, bob); code != websocket.ClosePolicyViolation || text != "account disabled" {
		t.Fatalf("disabled account: close %d %q, want 1008 account disabled", code, text)
	}
	// A failure that says nothing about the credential keeps the connection.
	creds.revoke("omt_sup", context.DeadlineExceeded)
	time.Sleep(300 * time.Millisecond)
	if n := e.hub.Connections(); n != 1 {
		t.Fatalf("%d connections, want the supervisor's still open", n)
	}
}
