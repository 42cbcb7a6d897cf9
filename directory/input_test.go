package directory_test

import (
	"context"
	"errors"
	"testing"

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
