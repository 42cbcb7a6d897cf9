package openchannel_test

import (
	"testing"

	"omnicc/channels/openchannel"
	"omnicc/contacts"
	"omnicc/directory"
	"omnicc/presence"
	"omnicc/router"
	"omnicc/store"
	"omnicc/storetest"
)

// An account naming a contact list gives each interaction its contact:
// found by the sender's number or address, else created there once.
func TestAccountContactListGivesEveryInteractionAContact(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		str := func(s string) *string { return &s }
		dir := directory.New(db, directory.Options{BcryptCost: 4})
		people, err := contacts.New(db, contacts.Options{Numbers: contacts.NumberPlan{CountryCode: "44"}, CacheTTL: -1})
		if err != nil {
			t.Fatal(err)
		}
		pres := presence.New(presence.Options{DB: db, Directory: dir, Controller: nopQueues{}, FlushDelay: -1, EventWait: -1})
		rt := router.New(router.Options{DB: db, Presence: pres, Directory: dir, Contacts: people})
		conn := openchannel.New(openchannel.Options{DB: db, Router: rt, Queues: dir})
		q, err := dir.CreateQueue(ctx, directory.QueueInput{Name: str("sms"), Channel: str(openchannel.Channel), Strategy: str("roundrobin")})
		if err != nil {
			t.Fatal(err)
		}
		list, err := people.CreateList(ctx, contacts.ListInput{Name: "sms senders"})
		if err != nil {
			t.Fatal(err)
		}
		mail, err := people.Create(ctx, contacts.ContactInput{ListID: list.ID, FirstName: "Eve", Email: "eve@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		if err := pres.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if err := rt.Load(ctx); err != nil {
			t.Fatal(err)
		}
		acct, err := conn.CreateAccount(ctx, openchannel.AccountInput{Name: str("gateway"), QueueID: &q.ID,
			ReplyURL: str("https://gw.example.com/replies"), ContactListID: &list.ID})
		if err != nil {
			t.Fatal(err)
		}
		if acct.ContactListID == nil || *acct.ContactListID != list.ID {
			t.Fatalf("account contact_list_id %v", acct.ContactListID)
		}
		it, _, _, err := conn.Receive(ctx, acct.ID, acct.Token, openchannel.InboundMessage{From: "+447700900123", Name: "Sam Jones", Body: "hi", ExternalID: "e1"})
		if err != nil || it.ContactID == nil {
			t.Fatalf("new sender: %+v, %v", it, err)
		}
		c, err := people.Get(ctx, *it.ContactID)
		if err != nil || c.ListID != list.ID || c.FirstName != "Sam" {
			t.Fatalf("created %+v, %v", c, err)
		}
		it, _, _, err = conn.Receive(ctx, acct.ID, acct.Token, openchannel.InboundMessage{From: "eve@example.com", Body: "hello", ExternalID: "e2"})
		if err != nil || it.ContactID == nil || *it.ContactID != mail.ID {
			t.Fatalf("known address: %+v, %v; want contact %d", it, err, mail.ID)
		}
		// Clearing the list: later senders get none.
		zero := int64(0)
		if acct, err = conn.UpdateAccount(ctx, acct.ID, openchannel.AccountInput{ContactListID: &zero}); err != nil || acct.ContactListID != nil {
			t.Fatalf("cleared: %+v, %v", acct, err)
		}
		it, _, _, err = conn.Receive(ctx, acct.ID, acct.Token, openchannel.InboundMessage{From: "other", Body: "x", ExternalID: "e3"})
		if err != nil || it.ContactID != nil {
			t.Fatalf("no list: %+v, %v", it, err)
		}
	})
}
