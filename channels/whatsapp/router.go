package whatsapp

import (
	"context"
	"fmt"
	"strconv"

	"omnicc/router"
)

// Receiver is the router's door for inbound messages (router.Router).
type Receiver interface {
	Receive(ctx context.Context, in router.Inbound) (*router.Interaction, *router.Message, bool, error)
}

// RouterInbox is the Inbox that hands stored WhatsApp messages to the
// router: the account is the channel account, the wa_id (or business-scoped
// user id) the customer, and the wamid/MessageSid the external id the
// router dedupes on, so a message handed over again after a crash is
// stored once.
type RouterInbox struct{ Router Receiver }

// Deliver implements Inbox.
func (ri RouterInbox) Deliver(ctx context.Context, in Inbound) (InboundResult, error) {
	it, _, _, err := ri.Router.Receive(ctx, router.Inbound{
		Channel: Channel, Account: strconv.FormatInt(in.AccountID, 10), Customer: in.From, CustomerName: in.Name,
		QueueID: in.QueueID, Body: in.Body, ExternalID: in.ExternalID,
	})
	if err != nil {
		return InboundResult{}, err
	}
	return InboundResult{InteractionID: it.ID}, nil
}

// RouterSender is the router's Sender for WhatsApp: an agent's reply goes
// out through the connector, which refuses free text outside the 24-hour
// window (ErrWindowClosed) before any provider call.
type RouterSender struct{ Connector *Connector }

// Send implements router.Sender.
func (rs RouterSender) Send(ctx context.Context, m router.Outbound) error {
	account, err := strconv.ParseInt(m.Account, 10, 64)
	if err != nil {
		return fmt.Errorf("whatsapp: interaction %d has account %q, not a WhatsApp account id", m.InteractionID, m.Account)
	}
	_, err = rs.Connector.Send(ctx, Outbound{AccountID: account, To: m.Customer, Body: m.Body})
	return err
}
