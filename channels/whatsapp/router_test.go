package whatsapp_test

import (
	"context"
	"testing"
	"time"

	"omnicc/channels/whatsapp"
	"omnicc/directory"
	"omnicc/presence"
	"omnicc/router"
	"omnicc/store"
	"omnicc/storetest"
)

type nopQueues struct{}

func (nopQueues) QueueAdd(context.Context, presence.Member) error                { return nil }
func (nopQueues) QueueRemove(context.Context, string, string) error              { return nil }
func (nopQueues) QueuePause(context.Context, string, string, bool, string) error { return nil }
func (nopQueues) QueuePenalty(context.Context, string, string, int) error        { return nil }

// The connector wired to the real router, as omniccd wires them: an album
// of images from one customer opens one interaction in the account's
// WhatsApp queue with every image, a redelivery adds nothing, and an
// agent's reply leaves through the connector to the provider.
func TestRouterInboxAndSender(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		dir := directory.New(db, directory.Options{BcryptCost: 4})
		str := func(s string) *string { return &s }
		q, err := dir.CreateQueue(ctx, directory.QueueInput{Name: str("wa"), Channel: str("whatsapp"), Strategy: str("beepall")})
		if err != nil {
			t.Fatal(err)
		}
		pres := presence.New(presence.Options{DB: db, Directory: dir, Controller: nopQueues{}, FlushDelay: -1, EventWait: -1})
		if err := pres.Load(ctx); err != nil {
			t.Fatal(err)
		}
		rt := router.New(router.Options{DB: db, Presence: pres, Directory: dir})
		if err := rt.Load(ctx); err != nil {
			t.Fatal(err)
		}
		r := newRig(t, db, whatsapp.RouterInbox{Router: rt})
		if r.acct, err = r.st.UpdateAccount(ctx, r.acct.ID, whatsapp.AccountInput{QueueID: &q.ID}); err != nil {
			t.Fatal(err)
		}
		rt.SetSender(whatsapp.Channel, whatsapp.RouterSender{Connector: r.conn})

		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- r.conn.Run(runCtx) }()
		defer func() { stop(); <-done }()

		n := r.receive(t, "meta_images.json")
		r.receive(t, "meta_images.json") // a redelivery
		staff := router.Actor{Staff: true}
		var its []*router.Interaction
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			its, _, err = rt.List(ctx, staff, router.Filter{Channel: whatsapp.Channel})
			if err != nil {
				t.Fatal(err)
			}
			if len(its) == 1 {
				msgs, err := rt.Messages(ctx, staff, its[0].ID, 0)
				if err != nil {
					t.Fatal(err)
				}
				if len(msgs) == n {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("the router has %d WhatsApp interactions, want 1 holding the %d images", len(its), n)
			}
		}
		if its[0].QueueID != q.ID {
			t.Fatalf("interaction in queue %d, want the account's %d", its[0].QueueID, q.ID)
		}

		// The router's sender: the reply reaches the provider for the same
		// customer on the same account.
		if err := (whatsapp.RouterSender{Connector: r.conn}).Send(ctx, router.Outbound{InteractionID: its[0].ID,
			Channel: whatsapp.Channel, Account: its[0].Account, Customer: its[0].Customer, Body: "On it"}); err != nil {
			t.Fatal(err)
		}
		got := r.graph.sends[len(r.graph.sends)-1]
		if got["to"] != "16505551234" || got["type"] != "text" {
			t.Fatalf("the provider got %v", got)
		}
	})
}
