package api

import (
	"context"
	"crypto/subtle"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"omnicc/channels/whatsapp"
	"omnicc/directory"
	"omnicc/domain"
	"omnicc/router"
)

// waNumberFormatting drops what people type inside a phone number.
var waNumberFormatting = strings.NewReplacer(" ", "", "-", "", "(", "", ")", "", ".", "", "\u00a0", "")

// maxWebhookBytes bounds one provider delivery (Meta batches a few MB at
// most); the server-wide body limit applies first when it is smaller.
const maxWebhookBytes = 8 << 20

// WhatsAppInteractions is the router as the WhatsApp routes need it:
// *router.Router. With it POST /interactions/{id}/template is served and
// agents may fetch the media of the interactions they may see.
type WhatsAppInteractions interface {
	Get(ctx context.Context, who router.Actor, id int64) (*router.Interaction, error)
	Find(ctx context.Context, who router.Actor, channel, account, customer string) (*router.Interaction, error)
	SendTemplate(ctx context.Context, who router.Actor, id int64, tpl router.TemplateSend, body string) (*router.Message, error)
	StartWithTemplate(ctx context.Context, who router.Actor, in router.Start, tpl router.TemplateSend, body string) (*router.Interaction, *router.Message, error)
}

// WhatsApp serves the WhatsApp accounts and templates (admin) and the
// providers' public, signature-checked webhooks.
type WhatsApp struct {
	conn         *whatsapp.Connector
	interactions WhatsAppInteractions
	s            *Server // set by Mount
}

// NewWhatsApp builds the routes; interactions may be nil (no router: no
// template route, and media for staff only).
func NewWhatsApp(conn *whatsapp.Connector, interactions WhatsAppInteractions) *WhatsApp {
	return &WhatsApp{conn: conn, interactions: interactions}
}

// agentMaySeeMessage: the WhatsApp message belongs to a conversation whose
// interaction the agent may see (its own, or its queues' waiting ones).
func (w *WhatsApp) agentMaySeeMessage(ctx context.Context, who router.Actor, messageID int64) (bool, error) {
	if w.interactions == nil {
		return false, nil
	}
	m, err := w.conn.Store().Message(ctx, messageID)
	if err != nil {
		return false, err
	}
	_, err = w.interactions.Find(ctx, who, whatsapp.Channel, strconv.FormatInt(m.AccountID, 10), m.WaID)
	if errors.Is(err, router.ErrForbidden) || errors.Is(err, router.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Mount registers the routes.
func (w *WhatsApp) Mount(r *Router) {
	s := r.s
	w.s = s
	st := w.conn.Store()
	r.Handle("GET", "/whatsapp-accounts", staff, func(c *gin.Context) {
		as, err := st.Accounts(c.Request.Context())
		if err != nil {
			s.fail(c, err)
			return
		}
		out := make([]whatsapp.Account, len(as))
		for i, a := range as {
			out[i] = a.Masked()
		}
		c.JSON(http.StatusOK, list[whatsapp.Account]{Items: out, Total: len(out)})
	})
	r.Handle("POST", "/whatsapp-accounts", adminOnly, func(c *gin.Context) {
		var in whatsapp.AccountInput
		if !s.decode(c, &in) {
			return
		}
		if !w.checkQueue(s, c, in.QueueID) {
			return
		}
		a, err := st.CreateAccount(c.Request.Context(), in)
		w.answerAccount(s, c, http.StatusCreated, a, err)
	})
	r.Handle("GET", "/whatsapp-accounts/:id", staff, func(c *gin.Context) {
		id, ok := pathID(c, "id")
		if !ok {
			return
		}
		a, err := st.Account(c.Request.Context(), id)
		w.answerAccount(s, c, http.StatusOK, a, err)
	})
	r.Handle("PATCH", "/whatsapp-accounts/:id", adminOnly, func(c *gin.Context) {
		id, ok := pathID(c, "id")
		if !ok {
			return
		}
		var in whatsapp.AccountInput
		if !s.decode(c, &in) {
			return
		}
		if !w.checkQueue(s, c, in.QueueID) {
			return
		}
		a, err := st.UpdateAccount(c.Request.Context(), id, in)
		w.answerAccount(s, c, http.StatusOK, a, err)
	})
	r.Handle("DELETE", "/whatsapp-accounts/:id", adminOnly, func(c *gin.Context) {
		id, ok := pathID(c, "id")
		if !ok {
			return
		}
		if err := st.DeleteAccount(c.Request.Context(), id); err != nil {
			s.fail(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	})

	// The 24-hour window of one conversation: the desktop offers the
	// recontact template once it has passed.
	r.Handle("GET", "/whatsapp-accounts/:id/conversations/:wa_id", everyone, func(c *gin.Context) {
		id, ok := pathID(c, "id")
		if !ok {
			return
		}
		if _, err := st.Account(c.Request.Context(), id); err != nil {
			s.fail(c, err)
			return
		}
		waID := strings.TrimPrefix(c.Param("wa_id"), "+")
		exp, err := st.WindowExpiresAt(c.Request.Context(), id, waID)
		if err != nil {
			s.fail(c, err)
			return
		}
		out := gin.H{"account_id": id, "wa_id": waID, "window_open": w.conn.Now().Before(exp), "window_expires_at": nil}
		if !exp.IsZero() {
			out["window_expires_at"] = exp
		}
		c.JSON(http.StatusOK, out)
	})

	// Agents read the templates: the desktop offers the recontact one and
	// those available for agents.
	r.Handle("GET", "/whatsapp-templates", everyone, func(c *gin.Context) {
		var accountID int64
		if v := c.Query("account_id"); v != "" {
			id, err := strconv.ParseInt(v, 10, 64)
			if err != nil || id < 1 {
				writeError(c, http.StatusBadRequest, "bad_id", "account_id "+strconv.Quote(v)+" is not a positive integer", "account_id")
				return
			}
			accountID = id
		}
		ts, err := st.Templates(c.Request.Context(), accountID)
		if err != nil {
			s.fail(c, err)
			return
		}
		if principal(c).Role == directory.RoleAgent {
			kept := ts[:0]
			for _, t := range ts {
				if t.Recontact || t.AgentsCanSend {
					kept = append(kept, t)
				}
			}
			ts = kept
		}
		c.JSON(http.StatusOK, list[whatsapp.Template]{Items: ts, Total: len(ts)})
	})
	r.Handle("POST", "/whatsapp-templates", adminOnly, func(c *gin.Context) {
		var in whatsapp.TemplateInput
		if !s.decode(c, &in) {
			return
		}
		t, err := st.CreateTemplate(c.Request.Context(), in)
		waAnswer(s, c, http.StatusCreated, t, err)
	})
	r.Handle("GET", "/whatsapp-templates/:id", everyone, func(c *gin.Context) {
		id, ok := pathID(c, "id")
		if !ok {
			return
		}
		t, err := st.Template(c.Request.Context(), id)
		waAnswer(s, c, http.StatusOK, t, err)
	})
	r.Handle("PATCH", "/whatsapp-templates/:id", adminOnly, func(c *gin.Context) {
		id, ok := pathID(c, "id")
		if !ok {
			return
		}
		var in whatsapp.TemplateInput
		if !s.decode(c, &in) {
			return
		}
		t, err := st.UpdateTemplate(c.Request.Context(), id, in)
		waAnswer(s, c, http.StatusOK, t, err)
	})
	r.Handle("DELETE", "/whatsapp-templates/:id", adminOnly, func(c *gin.Context) {
		id, ok := pathID(c, "id")
		if !ok {
			return
		}
		if err := st.DeleteTemplate(c.Request.Context(), id); err != nil {
			s.fail(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	})
	// An agent starts a conversation with one contact (the contact card's
	// WhatsApp shortcut) with a template available for agents. With the
	// router the conversation is an interaction from the first message:
	// the sender's, accepted, where the customer's answer lands.
	r.Handle("POST", "/whatsapp-templates/:id/send", everyone, func(c *gin.Context) {
		id, ok := pathID(c, "id")
		if !ok {
			return
		}
		var in struct {
			To         string   `json:"to"`
			Parameters []string `json:"parameters"`
		}
		if !s.decode(c, &in) {
			return
		}
		// The customer's identity is the wa_id Meta reports (digits with
		// the country code): a number typed with spaces or dashes must
		// name the same conversation its answer arrives on.
		in.To = strings.TrimPrefix(waNumberFormatting.Replace(strings.TrimSpace(in.To)), "+")
		if in.To == "" {
			writeError(c, http.StatusUnprocessableEntity, "invalid", "to is required: the customer's WhatsApp number", "to")
			return
		}
		t, err := st.Template(c.Request.Context(), id)
		if err != nil {
			s.fail(c, err)
			return
		}
		if principal(c).Role == directory.RoleAgent && !t.AgentsCanSend {
			writeError(c, http.StatusForbidden, "forbidden", "template "+t.Name+" is not available for agents (agents_can_send)", "template_id")
			return
		}
		if w.interactions != nil {
			w.startConversation(c, t, in.To, in.Parameters)
			return
		}
		sent, err := w.conn.SendTemplate(c.Request.Context(), id, in.To, in.Parameters)
		w.answerSent(s, c, sent, err, nil)
	})
	// Inbound media, stored by omniccd: never a public link.
	r.Handle("GET", "/whatsapp-messages/:id/media", everyone, func(c *gin.Context) {
		id, ok := pathID(c, "id")
		if !ok {
			return
		}
		if p := principal(c); p.Role == directory.RoleAgent {
			allowed, err := w.agentMaySeeMessage(c.Request.Context(), actorOf(c), id)
			if err != nil {
				s.fail(c, err)
				return
			}
			if !allowed {
				writeError(c, http.StatusForbidden, "forbidden", "this message is not in an interaction you hold", "id")
				return
			}
		}
		path, mime, err := st.MediaFile(c.Request.Context(), id)
		if errors.Is(err, os.ErrNotExist) {
			writeError(c, http.StatusNotFound, "not_found", err.Error(), "id")
			return
		}
		if err != nil {
			s.fail(c, err)
			return
		}
		c.Header("Content-Type", mime)
		c.Header("X-Content-Type-Options", "nosniff")
		c.Header("Content-Disposition", "attachment")
		c.File(path)
	})
	if w.interactions != nil {
		r.Handle("POST", "/interactions/:id/template", everyone, w.sendInteractionTemplate)
	}

	r.Public("GET", "/webhooks/whatsapp/:account_id", w.metaVerify)
	r.Public("POST", "/webhooks/whatsapp/:account_id", w.metaDelivery)
	r.Public("POST", "/webhooks/twilio/:account_id", w.twilioDelivery)
	// Agents' files as Twilio fetches them (MediaUrl): public, but only
	// through the signed, expiring link the connector made.
	r.Public("GET", "/whatsapp-media/:account_id/:interaction_id/:ref", w.signedMedia)
}

// signedMedia serves an agent's file at a link made by Connector.MediaURL:
// 403 when the link was altered or has expired, 404 when the file is gone.
func (w *WhatsApp) signedMedia(c *gin.Context) {
	accountID, ok := pathID(c, "account_id")
	if !ok {
		return
	}
	interactionID, ok := pathID(c, "interaction_id")
	if !ok {
		return
	}
	f, mimeType, err := w.conn.OpenSignedMedia(c.Request.Context(), accountID,
		whatsapp.FileRef{InteractionID: interactionID, Ref: c.Param("ref")}, c.Query("expires"), c.Query("sig"))
	switch {
	case errors.Is(err, whatsapp.ErrMediaURL):
		writeError(c, http.StatusForbidden, "forbidden", "this media link is invalid or has expired", "sig")
		return
	case errors.Is(err, router.ErrNotFound), errors.Is(err, os.ErrNotExist):
		writeError(c, http.StatusNotFound, "not_found", "the file of this media link is gone", "ref")
		return
	case err != nil:
		w.s.fail(c, err)
		return
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		w.s.fail(c, err)
		return
	}
	c.Header("Content-Type", mimeType)
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Cache-Control", "private, no-store")
	http.ServeContent(c.Writer, c.Request, "", info.ModTime(), f)
}

// sendInteractionTemplate sends a template in a WhatsApp interaction: by
// its agent or staff; an agent only a template available for agents, or the
// recontact one once the 24-hour window has closed. The message is stored
// in the conversation, and its statuses follow it there.
func (w *WhatsApp) sendInteractionTemplate(c *gin.Context) {
	s := w.s
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	var in struct {
		TemplateID int64    `json:"template_id"`
		Parameters []string `json:"parameters"`
	}
	if !s.decode(c, &in) {
		return
	}
	if in.TemplateID < 1 {
		writeError(c, http.StatusUnprocessableEntity, "invalid", "template_id is required", "template_id")
		return
	}
	ctx := c.Request.Context()
	who := actorOf(c)
	it, ok := ownInteraction(s, c, w.interactions.Get, id)
	if !ok {
		return
	}
	if it.Channel != whatsapp.Channel {
		writeError(c, http.StatusUnprocessableEntity, "invalid", "interaction "+strconv.FormatInt(id, 10)+" is a "+it.Channel+" interaction: templates are WhatsApp's", "id")
		return
	}
	t, err := w.conn.Store().Template(ctx, in.TemplateID)
	if errors.Is(err, domain.ErrNotFound) {
		writeError(c, http.StatusUnprocessableEntity, "invalid", "no WhatsApp template has id "+strconv.FormatInt(in.TemplateID, 10), "template_id")
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	if strconv.FormatInt(t.AccountID, 10) != it.Account {
		writeError(c, http.StatusUnprocessableEntity, "invalid", "template "+t.Name+" belongs to another WhatsApp account", "template_id")
		return
	}
	windowOpen := it.WindowExpiresAt != nil && w.conn.Now().Before(*it.WindowExpiresAt)
	if !who.Staff && !t.AgentsCanSend && !(t.Recontact && !windowOpen) {
		msg := "template " + t.Name + " is not available for agents (agents_can_send)"
		if t.Recontact {
			msg = "template " + t.Name + " is the recontact template: agents send it once the 24-hour window has closed"
		}
		writeError(c, http.StatusForbidden, "forbidden", msg, "template_id")
		return
	}
	m, err := w.interactions.SendTemplate(ctx, who, id, router.TemplateSend{ID: t.ID, Parameters: in.Parameters}, templateBody(t, in.Parameters))
	if err != nil {
		interactionFail(s, c, err)
		return
	}
	c.JSON(http.StatusCreated, m)
}

// templateBody is what agents read of a template message.
func templateBody(t whatsapp.Template, parameters []string) string {
	body := "[template " + t.Name + "]"
	if len(parameters) > 0 {
		body += " " + strings.Join(parameters, ", ")
	}
	return body
}

// startConversation opens the business-initiated interaction of POST
// /whatsapp-templates/{id}/send: held by the sender at once, the template
// its first message. The answer keeps the route's contract (message_id and
// external_id of the WhatsApp message, status pending) and adds the
// interaction. An account without a queue has no interactions: the
// template goes alone, as before the router.
func (w *WhatsApp) startConversation(c *gin.Context, t whatsapp.Template, to string, parameters []string) {
	s := w.s
	ctx := c.Request.Context()
	a, err := w.conn.Store().Account(ctx, t.AccountID)
	if err != nil {
		s.fail(c, err)
		return
	}
	if a.QueueID == nil || *a.QueueID == 0 {
		sent, err := w.conn.SendTemplate(ctx, t.ID, to, parameters)
		w.answerSent(s, c, sent, err, nil)
		return
	}
	window, err := w.conn.Store().WindowExpiresAt(ctx, a.ID, to)
	if err != nil {
		s.fail(c, err)
		return
	}
	it, m, err := w.interactions.StartWithTemplate(ctx, actorOf(c), whatsapp.ConversationStart(a, to, window),
		router.TemplateSend{ID: t.ID, Parameters: parameters}, templateBody(t, parameters))
	if it == nil || m == nil {
		interactionFail(s, c, err)
		return
	}
	var sent whatsapp.Sent
	if wm, lerr := w.conn.Store().MessageForInteraction(ctx, m.ID); lerr == nil {
		sent = whatsapp.Sent{MessageID: wm.ID, ExternalID: wm.ExternalID.String}
	} else if !errors.Is(lerr, domain.ErrNotFound) {
		s.fail(c, lerr)
		return
	}
	w.answerSent(s, c, sent, err, it)
}

// answerSent answers a template or message send; it, when set, is the
// interaction the message went in.
func (w *WhatsApp) answerSent(s *Server, c *gin.Context, sent whatsapp.Sent, err error, it *router.Interaction) {
	var pe *whatsapp.ProviderError
	switch {
	case err == nil:
		out := gin.H{"message_id": sent.MessageID, "external_id": sent.ExternalID, "status": "pending"}
		if it != nil {
			out["interaction_id"] = it.ID
			out["interaction"] = it
		}
		c.JSON(http.StatusCreated, out)
	case errors.Is(err, whatsapp.ErrWindowClosed):
		writeError(c, http.StatusConflict, "window_closed", err.Error(), "")
	case errors.As(err, &pe) && !pe.Retryable:
		writeError(c, http.StatusBadGateway, "provider_rejected", err.Error(), "")
	case errors.Is(err, whatsapp.ErrUnavailable):
		writeError(c, http.StatusServiceUnavailable, "provider_unavailable", err.Error()+" (the message is stored)", "")
	default:
		s.fail(c, err)
	}
}

func waAnswer[T any](s *Server, c *gin.Context, status int, v T, err error) {
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(status, v)
}

func (w *WhatsApp) answerAccount(s *Server, c *gin.Context, status int, a whatsapp.Account, err error) {
	waAnswer(s, c, status, a.Masked(), err)
}

// checkQueue refuses a queue_id that names no queue, naming the field.
func (w *WhatsApp) checkQueue(s *Server, c *gin.Context, id *int64) bool {
	if id == nil || *id == 0 {
		return true
	}
	if _, err := s.dir().Queue(c.Request.Context(), *id); err != nil {
		writeError(c, http.StatusUnprocessableEntity, "invalid", "queue_id: no queue has this id", "queue_id")
		return false
	}
	return true
}

// webhookAccount loads the account of a webhook URL: 404 when unknown, so a
// stale URL is told rather than silently dropped.
func (w *WhatsApp) webhookAccount(c *gin.Context, provider string) (whatsapp.Account, bool) {
	id, ok := pathID(c, "account_id")
	if !ok {
		return whatsapp.Account{}, false
	}
	a, err := w.conn.Store().Account(c.Request.Context(), id)
	if err == nil && a.Provider != provider {
		writeError(c, http.StatusNotFound, "not_found", "whatsapp account "+c.Param("account_id")+" is not a "+provider+" account", "account_id")
		return a, false
	}
	if err != nil {
		w.s.fail(c, err)
		return a, false
	}
	return a, true
}

// metaVerify is Meta's subscription handshake: echo hub.challenge when the
// verify token matches.
func (w *WhatsApp) metaVerify(c *gin.Context) {
	a, ok := w.webhookAccount(c, whatsapp.ProviderMeta)
	if !ok {
		return
	}
	if c.Query("hub.mode") != "subscribe" ||
		subtle.ConstantTimeCompare([]byte(c.Query("hub.verify_token")), []byte(a.VerifyToken)) != 1 {
		writeError(c, http.StatusForbidden, "forbidden", "hub.verify_token does not match the account's verify_token", "hub.verify_token")
		return
	}
	c.Data(http.StatusOK, "text/plain; charset=utf-8", []byte(c.Query("hub.challenge")))
}

func (w *WhatsApp) readWebhook(c *gin.Context) ([]byte, bool) {
	raw, err := io.ReadAll(io.LimitReader(c.Request.Body, maxWebhookBytes+1))
	if err != nil {
		w.s.fail(c, err)
		return nil, false
	}
	if len(raw) > maxWebhookBytes {
		writeError(c, http.StatusRequestEntityTooLarge, "too_large", "the delivery is larger than 8 MiB", "")
		return nil, false
	}
	return raw, true
}

// metaDelivery checks X-Hub-Signature-256 on the raw bytes, then parses,
// stores and answers; the router is fed afterwards by the connector.
func (w *WhatsApp) metaDelivery(c *gin.Context) {
	s := w.s
	a, ok := w.webhookAccount(c, whatsapp.ProviderMeta)
	if !ok {
		return
	}
	raw, ok := w.readWebhook(c)
	if !ok {
		return
	}
	sig := c.GetHeader("X-Hub-Signature-256")
	if sig == "" {
		writeError(c, http.StatusUnauthorized, "unsigned", "X-Hub-Signature-256 is missing", "X-Hub-Signature-256")
		return
	}
	if err := whatsapp.VerifyMetaSignature(a.AppSecret, sig, raw); err != nil {
		s.log.Warn("whatsapp: rejected a mis-signed Meta delivery", "account", a.ID, "remote", c.ClientIP())
		writeError(c, http.StatusForbidden, "bad_signature", "X-Hub-Signature-256 does not match the body signed with the account's app_secret", "X-Hub-Signature-256")
		return
	}
	d, err := whatsapp.ParseMeta(raw)
	if err != nil {
		s.log.Warn("whatsapp: malformed Meta delivery", "account", a.ID, "err", err)
		writeError(c, http.StatusBadRequest, "bad_json", err.Error(), "")
		return
	}
	// One app may deliver several numbers to one URL: each message goes to
	// the account of its metadata.phone_number_id when that account shares
	// the app secret that signed the delivery.
	byAccount := map[int64]*whatsapp.Delivery{a.ID: {}}
	accounts := map[int64]whatsapp.Account{a.ID: a}
	target := func(routeKey, what string) (int64, bool) {
		if routeKey == "" || routeKey == a.PhoneNumberID {
			return a.ID, true
		}
		for id, acc := range accounts {
			if acc.PhoneNumberID == routeKey {
				return id, true
			}
		}
		other, err := w.conn.Store().AccountByPhoneNumberID(c.Request.Context(), routeKey)
		if err != nil || other.AppSecret != a.AppSecret {
			s.log.Warn("whatsapp: delivery for a phone_number_id of no account signed by this app; dropped",
				"account", a.ID, "phone_number_id", routeKey, "item", what)
			return 0, false
		}
		accounts[other.ID] = other
		byAccount[other.ID] = &whatsapp.Delivery{}
		return other.ID, true
	}
	for _, m := range d.Messages {
		if id, ok := target(m.RouteKey, m.ExternalID); ok {
			byAccount[id].Messages = append(byAccount[id].Messages, m)
		}
	}
	for _, st := range d.Statuses {
		if id, ok := target(st.RouteKey, st.ExternalID); ok {
			byAccount[id].Statuses = append(byAccount[id].Statuses, st)
		}
	}
	for id, dd := range byAccount {
		if _, err := w.conn.Receive(c.Request.Context(), accounts[id], *dd); err != nil {
			// Not stored: a 5xx makes Meta deliver again later.
			s.fail(c, err)
			return
		}
	}
	c.Status(http.StatusOK)
}

// twilioDelivery checks X-Twilio-Signature over the public URL Twilio called
// (OMNICC_PUBLIC_URL, not the proxied one) and every POST parameter.
func (w *WhatsApp) twilioDelivery(c *gin.Context) {
	s := w.s
	a, ok := w.webhookAccount(c, whatsapp.ProviderTwilio)
	if !ok {
		return
	}
	raw, ok := w.readWebhook(c)
	if !ok {
		return
	}
	sig := c.GetHeader("X-Twilio-Signature")
	if sig == "" {
		writeError(c, http.StatusUnauthorized, "unsigned", "X-Twilio-Signature is missing", "X-Twilio-Signature")
		return
	}
	form, err := url.ParseQuery(string(raw))
	if err != nil {
		// Without the parameters the signature cannot be checked either.
		writeError(c, http.StatusForbidden, "bad_signature", "the body is not form-encoded, so X-Twilio-Signature cannot match", "X-Twilio-Signature")
		return
	}
	full := w.conn.PublicURL() + c.Request.URL.Path
	if c.Request.URL.RawQuery != "" {
		full += "?" + c.Request.URL.RawQuery
	}
	if err := whatsapp.VerifyTwilioSignature(a.AuthToken, full, form, sig); err != nil {
		s.log.Warn("whatsapp: rejected a mis-signed Twilio delivery", "account", a.ID, "url", full)
		writeError(c, http.StatusForbidden, "bad_signature", "X-Twilio-Signature does not match "+full+" signed with the account's auth_token (is OMNICC_PUBLIC_URL the URL Twilio calls?)", "X-Twilio-Signature")
		return
	}
	if ref := c.Query("ref"); ref != "" {
		form.Set("ref", ref)
	}
	d, err := whatsapp.ParseTwilio(form, w.conn.Now())
	if err != nil {
		s.log.Warn("whatsapp: malformed Twilio delivery", "account", a.ID, "err", err)
		writeError(c, http.StatusBadRequest, "bad_request", err.Error(), "")
		return
	}
	if _, err := w.conn.Receive(c.Request.Context(), a, d); err != nil {
		s.fail(c, err)
		return
	}
	// An empty TwiML answer: nothing is sent back automatically.
	c.Data(http.StatusOK, "text/xml", []byte("<Response></Response>"))
}
