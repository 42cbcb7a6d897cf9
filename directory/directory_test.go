package directory_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jmoiron/sqlx"

	"omnicc/directory"
	"omnicc/store"
	"omnicc/storetest"
)

// failingProjector refuses every projection, as a realtime table write that
// fails would.
type failingProjector struct{ directory.NopProjector }

var errProjection = errors.New("projection failed")

func (failingProjector) AgentSaved(context.Context, *sqlx.Tx, *directory.Agent, *directory.Agent) error {
	return errProjection
}

func (failingProjector) MembershipChanged(context.Context, *sqlx.Tx, int64, int64) error {
	return errProjection
}

func strp(s string) *string { return &s }

// A failure in the projection leaves neither half of the change.
func TestProjectionFailureRollsBack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		good := directory.New(db, directory.Options{BcryptCost: 4, SecuritySuite: true})
		bad := directory.New(db, directory.Options{BcryptCost: 4, SecuritySuite: true, Projector: failingProjector{}})
		in := directory.AgentInput{FullName: strp("Ann"), Username: strp("ann"), Typology: strp("webrtc"), Password: strp("Str0ng-Pass")}
		if _, err := bad.CreateAgent(ctx, in); !errors.Is(err, errProjection) {
			t.Fatalf("create: %v", err)
		}
		if _, total, _ := good.ListAgents(ctx, directory.AgentFilter{}); total != 0 {
			t.Fatalf("agent row left behind: %d", total)
		}
		a, err := good.CreateAgent(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		q, err := good.CreateQueue(ctx, directory.QueueInput{Name: strp("sales")})
		if err != nil {
			t.Fatal(err)
		}
		if err := bad.AddQueueMember(ctx, directory.MembershipInput{QueueID: q.ID, AgentID: a.ID}); !errors.Is(err, errProjection) {
			t.Fatalf("membership: %v", err)
		}
		if ms, _ := good.QueueMembers(ctx, q.ID); len(ms) != 0 {
			t.Fatalf("membership left behind: %v", ms)
		}
		if _, err := bad.UpdateAgent(ctx, a.ID, directory.AgentInput{Alias: strp("changed")}); !errors.Is(err, errProjection) {
			t.Fatalf("update: %v", err)
		}
		if got, _ := good.Agent(ctx, a.ID); got.Alias != "" {
			t.Fatalf("update half-applied: alias %q", got.Alias)
		}
	})
}

func TestExtensionRangeExhausted(t *testing.T) {
	db := storetest.SQLite(t)
	ctx := context.Background()
	d := directory.New(db, directory.Options{BcryptCost: 4, ExtensionLow: 100, ExtensionHigh: 101})
	for _, u := range []string{"a", "b"} {
		if _, err := d.CreateAgent(ctx, directory.AgentInput{FullName: strp(u), Username: strp(u), Typology: strp("webrtc"), Password: strp("Str0ng-Pass")}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := d.CreateAgent(ctx, directory.AgentInput{FullName: strp("c"), Username: strp("c"), Typology: strp("webrtc"), Password: strp("Str0ng-Pass")})
	var fe *directory.FieldError
	if !errors.As(err, &fe) || fe.Field != "extension" {
		t.Fatalf("want an extension error naming the range, got %v", err)
	}
}

func TestPasswordPolicy(t *testing.T) {
	for pw, ok := range map[string]bool{
		"Str0ng-Pass": true, "Aa1~aaaa": true, "Aa1[aaaa": true, "short1A-": true,
		"Aa1-aaa": false, "aa1-aaaa": false, "AA1-AAAA": false, "Aaa-aaaa": false, "Aa1aaaaa": false,
		"Aa1*aaaa": false, // '*' is not one of the symbols the seeds list
	} {
		err := directory.CheckPasswordPolicy("password", pw, true)
		if (err == nil) != ok {
			t.Errorf("%q: %v, want ok=%v", pw, err, ok)
		}
	}
	if err := directory.CheckPasswordPolicy("password", "weak", false); err != nil {
		t.Errorf("suite off still enforces the policy: %v", err)
	}
}
