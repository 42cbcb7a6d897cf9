package whatsapp_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"omnicc/channels/whatsapp"
	"omnicc/store"
	"omnicc/storetest"
)

// dbInbox stands in for the router: a store-backed inbox that opens one
// interaction per open conversation and stores each message once by its
// external id, as the router will. failFirst makes it fail that many calls.
type dbInbox struct {
	db        *store.DB
	failFirst atomic.Int32
	mu        sync.Mutex
	delivered []string
	notify    chan struct{}
}

func newDBInbox(t *testing.T, db *store.DB) *dbInbox {
	for _, q := range []string{
		`CREATE TABLE t_interactions (id INTEGER NOT NULL PRIMARY KEY, contact VARCHAR(64) NOT NULL, open_flag INTEGER NOT NULL)`,
		`CREATE TABLE t_messages (external_id VARCHAR(128) NOT NULL PRIMARY KEY, interaction_id INTEGER NOT NULL)`,
	} {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	return &dbInbox{db: db, notify: make(chan struct{}, 100)}
}

func (b *dbInbox) Deliver(ctx context.Context, in whatsapp.Inbound) (whatsapp.InboundResult, error) {
	if b.failFirst.Add(-1) >= 0 {
		return whatsapp.InboundResult{}, errors.New("router is restarting")
	}
	var id int64
	err := b.db.GetContext(ctx, &id, `SELECT id FROM t_interactions WHERE contact = ? AND open_flag = 1`, in.From)
	if err != nil {
		if err := b.db.GetContext(ctx, &id, `SELECT COALESCE(MAX(id), 0) + 1 FROM t_interactions`); err != nil {
			return whatsapp.InboundResult{}, err
		}
		if _, err := b.db.ExecContext(ctx, `INSERT INTO t_interactions (id, contact, open_flag) VALUES (?, ?, 1)`, id, in.From); err != nil {
			return whatsapp.InboundResult{}, err
		}
	}
	if _, err := b.db.ExecContext(ctx, b.db.InsertIgnore()+` t_messages (external_id, interaction_id) VALUES (?, ?)`, in.ExternalID, id); err != nil {
		return whatsapp.InboundResult{}, err
	}
	b.mu.Lock()
	b.delivered = append(b.delivered, in.ExternalID)
	b.mu.Unlock()
	b.notify <- struct{}{}
	return whatsapp.InboundResult{InteractionID: id}, nil
}

func runConnector(t *testing.T, c *whatsapp.Connector) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

func waitDelivered(t *testing.T, b *dbInbox, r *rig, n int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for got := 0; got < n; {
		select {
		case <-b.notify:
			got++
		case <-deadline:
			t.Fatalf("%d of %d messages reached the inbox", got, n)
		case <-time.After(20 * time.Millisecond):
			// The worker may be backing off after a failure: move the
			// fake clock so it retries (no real sleeping on the clock).
			r.clock.Advance(time.Minute)
		}
	}
}

func TestImagesSentTogetherJoinOneInteractionInOrder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		inbox := newDBInbox(t, db)
		inbox.failFirst.Store(2) // the router fails twice: nothing is lost
		r := newRig(t, db, inbox)
		runConnector(t, r.conn)
		r.receive(t, "meta_images.json")
		r.receive(t, "meta_images.json") // redelivered
		waitDelivered(t, inbox, r, 3)
		var interactions, msgs int
		_ = db.GetContext(t.Context(), &interactions, `SELECT COUNT(*) FROM t_interactions`)
		_ = db.GetContext(t.Context(), &msgs, `SELECT COUNT(*) FROM t_messages`)
		if interactions != 1 || msgs != 3 {
			t.Fatalf("%d interactions, %d messages; want 1 and 3", interactions, msgs)
		}
		inbox.mu.Lock()
		got := inbox.delivered
		inbox.mu.Unlock()
		if len(got) != 3 || got[0] != "wamid.ALB1" || got[2] != "wamid.ALB3" {
			t.Fatalf("delivered %v", got)
		}
		// The worker marks a message handed over right after Deliver returns.
		for deadline := time.Now().Add(5 * time.Second); ; {
			var pending int
			_ = db.GetContext(t.Context(), &pending, `SELECT COUNT(*) FROM whatsapp_messages WHERE delivered_at IS NULL`)
			if pending == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d messages still pending", pending)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

type recordingInbox struct {
	got chan whatsapp.Inbound
}

func (r recordingInbox) Deliver(_ context.Context, in whatsapp.Inbound) (whatsapp.InboundResult, error) {
	r.got <- in
	return whatsapp.InboundResult{InteractionID: 1}, nil
}

func TestQuickReplyCarriesCloseOnQuickReply(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		inbox := recordingInbox{got: make(chan whatsapp.Inbound, 20)}
		r := newRig(t, db, inbox)
		if _, err := r.st.CreateTemplate(t.Context(), whatsapp.TemplateInput{AccountID: &r.acct.ID, Name: ptr("survey"),
			Language: ptr("en"), CloseOnQuickReply: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		runConnector(t, r.conn)
		r.receive(t, "meta_batch.json")
		for range 13 {
			select {
			case in := <-inbox.got:
				if in.Channel != "whatsapp" || in.AccountID != r.acct.ID || in.WindowExpiresAt.IsZero() {
					t.Fatalf("inbound %+v", in)
				}
				if want := in.Kind == "button"; in.CloseOnQuickReply != want {
					t.Fatalf("%s: CloseOnQuickReply = %v", in.ExternalID, in.CloseOnQuickReply)
				}
				if in.Kind == "image" && (in.Media == nil || in.Media.ID != "1003383421387256") {
					t.Fatalf("image media %+v", in.Media)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("inbox starved")
			}
		}
	})
}
