package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

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
// stored once. The account's contact list, the 24-hour window and a
// closing quick reply travel with it.
type RouterInbox struct{ Router Receiver }

// Deliver implements Inbox.
func (ri RouterInbox) Deliver(ctx context.Context, in Inbound) (InboundResult, error) {
	it, _, _, err := ri.Router.Receive(ctx, router.Inbound{
		Channel: Channel, Account: strconv.FormatInt(in.AccountID, 10), Customer: in.From, CustomerName: in.Name,
		QueueID: in.QueueID, Body: in.Body, ExternalID: in.ExternalID,
		ContactListID: in.ContactListID, Phone: phoneOf(in.From),
		WindowExpiresAt: in.WindowExpiresAt, CloseAfter: in.CloseOnQuickReply, Attachments: attachmentsOf(in),
	})
	if err != nil {
		return InboundResult{}, err
	}
	return InboundResult{InteractionID: it.ID}, nil
}

// ConversationStart is the router's Start of a conversation an agent opens
// with customer to on account a: the identity RouterInbox gives the
// customer's own messages, so the answer joins the same interaction.
// window is the conversation's 24-hour window as it stands (zero: never
// opened).
func ConversationStart(a Account, to string, window time.Time) router.Start {
	st := router.Start{Channel: Channel, Account: strconv.FormatInt(a.ID, 10), Customer: to, Phone: phoneOf(to),
		WindowExpiresAt: window}
	if a.QueueID != nil {
		st.QueueID = *a.QueueID
	}
	if a.ContactListID != nil {
		st.ContactListID = *a.ContactListID
	}
	return st
}

// attachmentsOf links an inbound message's media as omniccd serves it to
// the agents who may see the conversation (404 until it is downloaded).
func attachmentsOf(in Inbound) []string {
	if in.Media == nil {
		return nil
	}
	return []string{fmt.Sprintf("/api/v1/whatsapp-messages/%d/media", in.MessageID)}
}

// phoneOf is the customer's number when the identity is a wa_id (digits
// with the country code); a business-scoped user id is no number.
func phoneOf(from string) string {
	if from == "" || len(from) > 16 {
		return ""
	}
	for _, r := range from {
		if r < '0' || r > '9' {
			return ""
		}
	}
	return "+" + from
}

// RouterSender is the router's Sender for WhatsApp: an agent's reply or
// template goes out through the connector, which refuses free text outside
// the 24-hour window (ErrWindowClosed) before any provider call. The
// router's message id travels with it, so statuses find their way back.
type RouterSender struct {
	Connector *Connector
	// Files opens the files agents attach (*router.Files); without it a
	// file message fails with that reason.
	Files interface {
		Open(interactionID int64, ref string) (*os.File, error)
	}
}

// Send implements router.Sender.
func (rs RouterSender) Send(ctx context.Context, m router.Outbound) error {
	account, err := strconv.ParseInt(m.Account, 10, 64)
	if err != nil {
		return fmt.Errorf("whatsapp: interaction %d has account %q, not a WhatsApp account id", m.InteractionID, m.Account)
	}
	if m.Template != nil {
		_, err = rs.Connector.SendTemplateFor(ctx, m.Template.ID, m.Customer, m.Template.Parameters, m.MessageID)
		return err
	}
	out := Outbound{AccountID: account, To: m.Customer, Body: m.Body, InteractionMessageID: m.MessageID}
	if len(m.Attachments) > 0 {
		return rs.sendFile(ctx, out, m.Attachments[0])
	}
	_, err = rs.Connector.Send(ctx, out)
	return err
}

func (rs RouterSender) sendFile(ctx context.Context, out Outbound, attachment string) error {
	id, ref, ok := router.ParseAttachmentURL(attachment)
	if !ok || rs.Files == nil {
		return fmt.Errorf("whatsapp: cannot read the attachment %q", attachment)
	}
	f, err := rs.Files.Open(id, ref)
	if err != nil {
		return err
	}
	defer f.Close()
	name := ref[strings.IndexByte(ref, '-')+1:]
	mimeType, err := fileMIME(f, ref)
	if err != nil {
		return err
	}
	out.File = &FileRef{InteractionID: id, Ref: ref}
	_, err = rs.Connector.SendFile(ctx, out, f, name, mimeType)
	return err
}

// DeliveryStatuses is the router's door for a provider's statuses
// (router.Router).
type DeliveryStatuses interface {
	DeliveryStatus(ctx context.Context, messageID int64, status, errText string) error
}

// RouterStatuses is the StatusListener that moves the router's message
// forward as the provider's status webhooks arrive (single tick, double
// tick, read, or failed with the provider's code and title), which the
// router pushes to the desktops as websocket message events.
type RouterStatuses struct {
	Router DeliveryStatuses
	// Log is told of a status the router could not record; the webhook is
	// answered anyway (the WhatsApp message row has it).
	Log func(msg string, args ...any)
}

// MessageStatus implements StatusListener.
func (rs RouterStatuses) MessageStatus(ctx context.Context, u StatusUpdate) {
	if u.InteractionMessageID == 0 {
		return
	}
	errText := ""
	if u.Status == "failed" {
		errText = fmt.Sprintf("%d %s", u.ErrorCode, u.ErrorTitle)
	}
	if err := rs.Router.DeliveryStatus(ctx, u.InteractionMessageID, u.Status, errText); err != nil && rs.Log != nil &&
		!errors.Is(err, context.Canceled) {
		rs.Log("whatsapp: record a status on the router's message", "message", u.InteractionMessageID, "status", u.Status, "err", err)
	}
}
