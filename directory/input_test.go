package directory_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"omnicc/directory"
	"omnicc/store"
	"omnicc/storetest"
)

// Values that reach Asterisk (callerid, AMI headers, queue_log, dialplan)
// refuse the characters that would break them, naming the field.
func TestInputReachingAsteriskIsRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		d := directory.New(db, directory.Options{BcryptCost: 4})
		agent := func(edit func(*directory.AgentInput)) error {
			in := directory.AgentInput{FullName: strp("Ann"), Username: strp("ann"), Typology: strp("webrtc"), Password: strp("Str0ng-Pass")}
			edit(&in)
			_, err := d.CreateAgent(ctx, in)
			return err
		}
		for _, c := range []struct {
			name  string
			err   error
			field string
		}{
			{"newline in full_name", agent(func(in *directory.AgentInput) { in.FullName = strp("Ann\nAction: Originate") }), "full_name"},
			{"tab in full_name", agent(func(in *directory.AgentInput) { in.FullName = strp("Ann\tB") }), "full_name"},
			{"control in alias", agent(func(in *directory.AgentInput) { in.Alias = strp("a\x07") }), "alias"},
			{"tab in caller_id", agent(func(in *directory.AgentInput) { in.CallerID = strp("\"A\"\t<1>") }), "caller_id"},
			{"pipe in pause type", d.PauseTypes().Create(ctx, &directory.PauseType{Base: directory.Base{Name: "Training|x"}}), "name"},
			{"comma in pause type", d.PauseTypes().Create(ctx, &directory.PauseType{Base: directory.Base{Name: "Lunch,x"}}), "name"},
			{"newline in pause type", d.PauseTypes().Create(ctx, &directory.PauseType{Base: directory.Base{Name: "Lunch\r\n"}}), "name"},
			{"newline in team", d.Teams().Create(ctx, &directory.Team{Base: directory.Base{Name: "Sales\nx"}}), "name"},
		} {
			var fe *directory.FieldError
			if !errors.As(c.err, &fe) || fe.Field != c.field {
				t.Errorf("%s: want a field error on %s, got %v", c.name, c.field, c.err)
			}
		}
		if err := agent(func(in *directory.AgentInput) { in.FullName = strp("Anna O'Brien-Müller") }); err != nil {
			t.Errorf("an ordinary name: %v", err)
		}
		if err := d.PauseTypes().Create(ctx, &directory.PauseType{Base: directory.Base{Name: "Training (2h)"}}); err != nil {
			t.Errorf("an ordinary pause type: %v", err)
		}
	})
}
func boolp(b bool) *bool { return &b }

// A pause type agents are paused with cannot be deleted; the answer names
// them. Once nobody is paused with it, it can.
func TestDeletePauseTypeInUse(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		d := directory.New(db, directory.Options{BcryptCost: 4})
		ann, err := d.CreateAgent(ctx, directory.AgentInput{FullName: strp("Ann"), Username: strp("ann"), Typology: strp("webrtc"), Password: strp("Str0ng-Pass")})
		if err != nil {
			t.Fatal(err)
		}
		lunch := &directory.PauseType{Base: directory.Base{Name: "Lunch"}}
		if err := d.PauseTypes().Create(ctx, lunch); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC().Truncate(time.Second)
		if _, err := db.ExecContext(ctx, `INSERT INTO agent_sessions (agent_id, logged_in_at, source, paused_channels, pause_type_id, pause_reason, paused_at, updated_at)
			VALUES (?, ?, 'api', 'voice', ?, 'Lunch', ?, ?)`, ann.ID, now, lunch.ID, now, now); err != nil {
			t.Fatal(err)
		}
		var inUse *directory.InUseError
		if err := d.PauseTypes().Delete(ctx, lunch.ID); !errors.As(err, &inUse) || !strings.Contains(err.Error(), "ann") {
			t.Fatalf("delete a pause type in use: %v", err)
		}
		if _, err := db.ExecContext(ctx, `UPDATE agent_sessions SET pause_type_id = NULL, paused_at = NULL WHERE agent_id = ?`, ann.ID); err != nil {
			t.Fatal(err)
		}
		if err := d.PauseTypes().Delete(ctx, lunch.ID); err != nil {
			t.Fatalf("delete once nobody is paused with it: %v", err)
		}
		if err := d.PauseTypes().Delete(ctx, lunch.ID); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("delete twice: %v", err)
		}
	})
}
