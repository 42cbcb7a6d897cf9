package whatsapp_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"omnicc/channels/whatsapp"
	"omnicc/contacts"
	"omnicc/directory"
	"omnicc/presence"
	"omnicc/router"
	"omnicc/store"
	"omnicc/storetest"
)

// signalInbox is the router's inbox, telling the test each time a message
// has been handed over (no polling, no sleeps).
type signalInbox struct {
	whatsapp.RouterInbox
	done chan error
}

func (s signalInbox) Deliver(ctx context.Context, in whatsapp.Inbound) (whatsapp.InboundResult, error) {
	res, err := s.RouterInbox.Deliver(ctx, in)
	s.done <- err
	return res, err
}

type events struct {
	mu  sync.Mutex
	got []presence.Event
}

func (e *events) Publish(ev presence.Event) {
	e.mu.Lock()
	e.got = append(e.got, ev)
	e.mu.Unlock()
}

// messageStatuses are the statuses of message id pushed as websocket
// message events, in order.
func (e *events) messageStatuses(id int64) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.got {
		if me, ok := ev.Payload.(router.MessageEvent); ok && ev.Type == "message" && me.Message.ID == id {
			out = append(out, me.Message.Status)
		}
	}
	return out
}

// The WhatsApp connector and the router wired as omniccd wires them: the
// customer becomes a contact of the account's list, the interaction carries
// the window, the provider's statuses reach the agent's message (and the
// websocket), free text outside the window is refused while a template
// goes, and a quick reply to a close_on_quick_reply template closes it.
func TestRouterFlowContactsStatusesTemplatesQuickReply(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		r := newRig(t, db, nil)
		dir := directory.New(db, directory.Options{BcryptCost: 4})
		q, err := dir.CreateQueue(ctx, directory.QueueInput{Name: ptr("wa"), Channel: ptr("whatsapp"), Strategy: ptr("roundrobin")})
		if err != nil {
			t.Fatal(err)
		}
		ag, err := dir.CreateAgent(ctx, directory.AgentInput{FullName: ptr("Ann"), Username: ptr("ann"),
			Typology: ptr(directory.TypologyWebRTC), Password: ptr("Str0ng-Pass")})
		if err != nil {
			t.Fatal(err)
		}
		if err := dir.AddQueueMember(ctx, directory.MembershipInput{QueueID: q.ID, AgentID: ag.ID}); err != nil {
			t.Fatal(err)
		}
		people, err := contacts.New(db, contacts.Options{Numbers: contacts.NumberPlan{CountryCode: "1"}, CacheTTL: -1})
		if err != nil {
			t.Fatal(err)
		}
		list, err := people.CreateList(ctx, contacts.ListInput{Name: "WhatsApp"})
		if err != nil {
			t.Fatal(err)
		}
		pres := presence.New(presence.Options{DB: db, Directory: dir, Controller: nopQueues{}, Clock: r.clock, FlushDelay: -1, EventWait: -1})
		if err := pres.Load(ctx); err != nil {
			t.Fatal(err)
		}
		ev := &events{}
		rt := router.New(router.Options{DB: db, Presence: pres, Directory: dir, Publisher: ev, Contacts: people, Clock: r.clock})
		if err := rt.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := pres.Login(ctx, ag.ID, "api"); err != nil {
			t.Fatal(err)
		}
		rt.AgentChanged(ag.ID)
		if err := rt.ProcessPending(ctx); err != nil {
			t.Fatal(err)
		}
		if r.acct, err = r.st.UpdateAccount(ctx, r.acct.ID, whatsapp.AccountInput{QueueID: &q.ID, ContactListID: &list.ID}); err != nil {
			t.Fatal(err)
		}
		tpl, err := r.st.CreateTemplate(ctx, whatsapp.TemplateInput{AccountID: &r.acct.ID, Name: ptr("recontact"),
			Language: ptr("en"), Recontact: ptr(true), CloseOnQuickReply: ptr(true)})
		if err != nil {
			t.Fatal(err)
		}
		inbox := signalInbox{RouterInbox: whatsapp.RouterInbox{Router: rt}, done: make(chan error, 10)}
		conn, err := whatsapp.New(whatsapp.Options{Store: r.st, Inbox: inbox, Statuses: whatsapp.RouterStatuses{Router: rt},
			Clock: r.clock, MaxAttempts: 2})
		if err != nil {
			t.Fatal(err)
		}
		rt.SetSender(whatsapp.Channel, whatsapp.RouterSender{Connector: conn})
		runConnector(t, conn)
		deliver := func(d whatsapp.Delivery) {
			t.Helper()
			if _, err := conn.Receive(ctx, r.acct, d); err != nil {
				t.Fatal(err)
			}
			for range d.Messages {
				select {
				case err := <-inbox.done:
					if err != nil {
						t.Fatal(err)
					}
				case <-time.After(20 * time.Second):
					t.Fatal("the connector never handed the message to the router")
				}
			}
		}
		d, err := whatsapp.ParseMeta(readTestdata(t, "meta_text.json"))
		if err != nil {
			t.Fatal(err)
		}
		deliver(d)

		staff := router.Actor{Staff: true}
		its, _, err := rt.List(ctx, staff, router.Filter{Channel: whatsapp.Channel})
		if err != nil || len(its) != 1 {
			t.Fatalf("%d interactions, %v", len(its), err)
		}
		it := its[0]
		if it.ContactID == nil {
			t.Fatal("the WhatsApp interaction has no contact")
		}
		c, err := people.Get(ctx, *it.ContactID)
		if err != nil || c.ListID != list.ID || c.ExternalIDs["whatsapp"] != "16505551234" {
			t.Fatalf("contact %+v, %v", c, err)
		}
		window := time.Unix(1749416383, 0).UTC().Add(24 * time.Hour)
		if it.WindowExpiresAt == nil || !it.WindowExpiresAt.Equal(window) {
			t.Fatalf("window_expires_at %v, want %v", it.WindowExpiresAt, window)
		}
		if it.Status != router.StatusOffered {
			t.Fatalf("status %s, want offered to the logged-in agent", it.Status)
		}
		if _, err := rt.Accept(ctx, ag.ID, it.ID); err != nil {
			t.Fatal(err)
		}

		// Statuses: the provider's webhooks move the agent's message forward.
		ann := router.Actor{AgentID: ag.ID}
		reply, _, err := rt.Reply(ctx, ann, it.ID, "On it", "c1")
		if err != nil || reply.Status != router.MessageSent {
			t.Fatalf("reply %+v, %v", reply, err)
		}
		outs, err := r.st.Messages(ctx, r.acct.ID, "16505551234")
		if err != nil {
			t.Fatal(err)
		}
		wa := outs[len(outs)-1]
		ref := fmt.Sprintf("omnicc:%d", wa.ID)
		deliver(whatsapp.Delivery{Statuses: []whatsapp.StatusEvent{
			{ExternalID: wa.ExternalID.String, Status: "delivered", Ref: ref},
			{ExternalID: wa.ExternalID.String, Status: "read", Ref: ref},
			{ExternalID: wa.ExternalID.String, Status: "delivered", Ref: ref}, // late: ignored
		}})
		if got := ev.messageStatuses(reply.ID); fmt.Sprint(got) != "[pending sent delivered read]" {
			t.Fatalf("message events for the reply: %v", got)
		}
		second, _, err := rt.Reply(ctx, ann, it.ID, "And this?", "c2")
		if err != nil {
			t.Fatal(err)
		}
		outs, _ = r.st.Messages(ctx, r.acct.ID, "16505551234")
		wa = outs[len(outs)-1]
		deliver(whatsapp.Delivery{Statuses: []whatsapp.StatusEvent{{ExternalID: wa.ExternalID.String, Status: "failed",
			Ref: fmt.Sprintf("omnicc:%d", wa.ID), ErrorCode: 131026, ErrorTitle: "Message undeliverable"}}})
		ms, _ := rt.Messages(ctx, ann, it.ID, second.Seq-1)
		if len(ms) != 1 || ms[0].Status != router.MessageFailed || ms[0].Error != "131026 Message undeliverable" {
			t.Fatalf("failed reply as the agent sees it: %+v", ms)
		}

		// Outside the window: free text is refused by omniccd, a template goes.
		r.clock.Set(window.Add(time.Minute))
		calls := r.graph.calls()
		_, _, err = rt.Reply(ctx, ann, it.ID, "Still there?", "c3")
		var refused *router.RefusedError
		if !errors.As(err, &refused) || refused.Code != "window_closed" || r.graph.calls() != calls {
			t.Fatalf("free text outside the window: %v (provider calls %d → %d)", err, calls, r.graph.calls())
		}
		tm, err := rt.SendTemplate(ctx, ann, it.ID, router.TemplateSend{ID: tpl.ID}, "[template recontact]")
		if err != nil || tm.Status != router.MessageSent {
			t.Fatalf("template %+v, %v", tm, err)
		}
		sent := r.graph.sends[len(r.graph.sends)-1]
		if sent["type"] != "template" {
			t.Fatalf("the provider got %v", sent)
		}
		outs, _ = r.st.Messages(ctx, r.acct.ID, "16505551234")
		tplWamid := outs[len(outs)-1].ExternalID.String

		// The customer answers the template's quick reply: closed.
		deliver(whatsapp.Delivery{Messages: []whatsapp.InboundMessage{{ExternalID: "wamid.QR1", From: "16505551234",
			Name: "Kerry Fisher", Kind: whatsapp.KindButton, Body: "No, thanks", Payload: "NO", ReplyTo: tplWamid, At: r.clock.Now()}}})
		got, err := rt.Get(ctx, staff, it.ID)
		if err != nil || got.Status != router.StatusClosed {
			t.Fatalf("after the closing quick reply: %+v, %v", got, err)
		}
		if l, _ := pres.LoadOn(ag.ID, whatsapp.Channel); l.Open != 0 {
			t.Fatalf("agent still holds %d WhatsApp interactions", l.Open)
		}
	})
}
