package whatsapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"omnicc/clock"
)

// StatusListener is told when an outbound message's status moved forward,
// so the router can update what the agent sees. Optional.
type StatusListener interface {
	MessageStatus(ctx context.Context, u StatusUpdate)
}

// Options configure a Connector.
type Options struct {
	Store *Store
	// Inbox receives every stored inbound message, in order. Nil keeps
	// them stored and pending until an inbox is wired.
	Inbox    Inbox
	Statuses StatusListener
	HTTP     *http.Client
	Clock    clock.Clock
	Logger   *slog.Logger
	// PublicURL (OMNICC_PUBLIC_URL) is how Twilio reaches us: its
	// signatures are computed over it, and status callbacks point at it.
	PublicURL string
	// MaxAttempts and Backoff shape the retries of a send (default 5, 1s
	// doubling) and of a failing inbox (Backoff doubling, up to a minute).
	MaxAttempts int
	Backoff     time.Duration
	// MediaDir is where inbound media are kept (OMNICC_DATA_DIR/whatsapp-media
	// by default in omniccd); empty leaves media undownloaded.
	MediaDir string
	// Poll is how often the worker looks for pending messages without a
	// wake-up (another instance may have stored them). Default 5s.
	Poll time.Duration
	// Files are the agents' attachments (*router.Files): Twilio fetches
	// them through signed links (MediaURL) served from here.
	Files AgentFiles
	// MediaURLTTL is how long such a link works (DefaultMediaURLTTL).
	MediaURLTTL time.Duration
}

// Connector is the WhatsApp channel: it receives deliveries (stored first),
// hands them to the inbox in order from Run's single worker, and sends
// agents' replies and templates.
type Connector struct {
	store       *Store
	inbox       Inbox
	statuses    StatusListener
	http        *http.Client
	clock       clock.Clock
	log         *slog.Logger
	publicURL   string
	maxAttempts int
	backoff     time.Duration
	poll        time.Duration
	mediaDir    string
	files       AgentFiles
	mediaTTL    time.Duration
	wake        chan struct{}
}

// New builds a connector.
func New(o Options) (*Connector, error) {
	if o.Store == nil {
		return nil, errors.New("whatsapp: Options.Store is required")
	}
	c := &Connector{store: o.Store, inbox: o.Inbox, statuses: o.Statuses, http: o.HTTP, clock: clock.Or(o.Clock),
		log: o.Logger, publicURL: strings.TrimRight(o.PublicURL, "/"), maxAttempts: o.MaxAttempts, backoff: o.Backoff,
		poll: o.Poll, mediaDir: o.MediaDir, files: o.Files, mediaTTL: o.MediaURLTTL, wake: make(chan struct{}, 1)}
	if c.mediaTTL <= 0 {
		c.mediaTTL = DefaultMediaURLTTL
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: 30 * time.Second}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.maxAttempts <= 0 {
		c.maxAttempts = 5
	}
	if c.backoff <= 0 {
		c.backoff = time.Second
	}
	if c.poll <= 0 {
		c.poll = 5 * time.Second
	}
	return c, nil
}

// Store is the connector's store (accounts, templates, messages).
func (c *Connector) Store() *Store { return c.store }

// PublicURL is the configured public base URL, without a trailing slash.
func (c *Connector) PublicURL() string { return c.publicURL }

// Receive stores a verified delivery: new messages (duplicates ignored by the
// database), statuses applied forward-only. It returns once everything is
// durable; the inbox is fed afterwards by Run, so the webhook answers fast
// and a slow or failing router never makes the provider redeliver.
func (c *Connector) Receive(ctx context.Context, a Account, d Delivery) (added int, err error) {
	added, err = c.store.SaveInbound(ctx, a.ID, d.Messages)
	if err != nil {
		return added, err
	}
	for _, ev := range d.Statuses {
		u, err := c.store.ApplyStatus(ctx, a.ID, ev)
		if err != nil {
			return added, err
		}
		if u != nil && c.statuses != nil {
			c.statuses.MessageStatus(ctx, *u)
		}
	}
	if added > 0 {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	return added, nil
}

// Run hands stored inbound messages to the inbox until ctx ends. One worker
// keeps the order of each conversation: several images sent together reach
// the router one after the other and join one interaction. A failing inbox
// is retried with backoff; the message stays pending meanwhile.
func (c *Connector) Run(ctx context.Context) error {
	delay := c.backoff
	for {
		err := c.drain(ctx)
		if merr := c.retryMedia(ctx); err == nil {
			err = merr
		}
		wait := c.poll
		if err != nil && ctx.Err() == nil {
			c.log.Warn("whatsapp: handing messages to the router failed; will retry", "err", err, "in", delay)
			wait = delay
			delay = min(delay*2, time.Minute)
		} else {
			delay = c.backoff
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.wake:
		case <-c.clock.After(wait):
		}
	}
}

// drain delivers pending messages until none is left.
func (c *Connector) drain(ctx context.Context) error {
	if c.inbox == nil {
		return nil
	}
	for {
		ms, err := c.store.pendingInbound(ctx, 100)
		if err != nil {
			return err
		}
		if len(ms) == 0 {
			return nil
		}
		if err := c.deliverBatch(ctx, ms); err != nil {
			return err
		}
	}
}

// deliverBatch hands ms to the inbox and marks those it took as delivered
// in one statement at the end (also when one fails): one commit per batch
// instead of one per message. A crash in between hands some to the inbox
// again, which stores each external id once. The customers of a batch are
// handed over side by side (up to deliverWorkers at once), each customer's
// messages in order: one conversation's order is all that matters (several
// images sent together still open one interaction), and one at a time a
// MariaDB commit per message kept the worker behind 500 deliveries a second.
func (c *Connector) deliverBatch(ctx context.Context, ms []Message) error {
	type customer struct {
		account int64
		waID    string
	}
	var order []customer
	byCustomer := map[customer][]Message{}
	for _, m := range ms {
		k := customer{m.AccountID, m.WaID}
		if _, ok := byCustomer[k]; !ok {
			order = append(order, k)
		}
		byCustomer[k] = append(byCustomer[k], m)
	}
	var (
		mu        sync.Mutex
		delivered []int64
		firstErr  error
		accounts  = map[int64]Account{}
		wg        sync.WaitGroup
		slots     = make(chan struct{}, deliverWorkers)
	)
	account := func(id int64) (Account, error) {
		mu.Lock()
		a, ok := accounts[id]
		mu.Unlock()
		if ok {
			return a, nil
		}
		a, err := c.store.Account(ctx, id)
		if err == nil {
			mu.Lock()
			accounts[id] = a
			mu.Unlock()
		}
		return a, err
	}
	for _, k := range order {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			for _, m := range byCustomer[k] {
				err := c.deliverOne(ctx, m, account)
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return // this customer's later messages wait: order
				}
				delivered = append(delivered, m.ID)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := c.store.markDelivered(ctx, delivered...); firstErr == nil {
		firstErr = err
	}
	return firstErr
}

// deliverWorkers bounds the customers of one batch handed over at once.
const deliverWorkers = 8

func (c *Connector) deliverOne(ctx context.Context, m Message, account func(int64) (Account, error)) error {
	a, err := account(m.AccountID)
	if err != nil {
		return err
	}
	// The file is fetched before the router hears of the message, while
	// Meta's short-lived URL is still valid; a failure is recorded and
	// retried, and the message goes on without it.
	if m.MediaState == "pending" {
		if err := c.downloadMedia(ctx, a, m); err != nil {
			return err
		}
		if m, err = c.store.Message(ctx, m.ID); err != nil {
			return err
		}
	}
	in, err := c.inbound(ctx, a, m)
	if err != nil {
		return err
	}
	if _, err := c.inbox.Deliver(ctx, in); err != nil {
		return fmt.Errorf("deliver message %d (%s): %w", m.ID, m.ExternalID.String, err)
	}
	return nil
}

func (c *Connector) inbound(ctx context.Context, a Account, m Message) (Inbound, error) {
	exp, err := c.store.WindowExpiresAt(ctx, a.ID, m.WaID)
	if err != nil {
		return Inbound{}, err
	}
	in := Inbound{Channel: Channel, AccountID: a.ID, MessageID: m.ID, From: m.WaID, Name: m.Name,
		ExternalID: m.ExternalID.String, Kind: m.Kind, Body: m.Body, Payload: m.Payload, ReplyTo: m.ReplyTo,
		At: m.SentAt.UTC(), WindowExpiresAt: exp}
	if a.QueueID != nil {
		in.QueueID = *a.QueueID
	}
	if a.ContactListID != nil {
		in.ContactListID = *a.ContactListID
	}
	if m.Kind == KindButton {
		if in.CloseOnQuickReply, err = c.store.CloseOnQuickReply(ctx, a.ID, m.ReplyTo); err != nil {
			return Inbound{}, err
		}
	}
	if m.MediaID != "" {
		in.Media = &Media{ID: m.MediaID, MIMEType: m.MediaMIME, SHA256: m.MediaSHA256, State: m.MediaState, Error: m.MediaError}
	}
	return in, nil
}

// SendTemplate sends a stored template to a customer: the one kind of
// message allowed outside the 24-hour window (the recontact template, or a
// template "available for agents" to start a conversation). parameters fill
// {{1}}, {{2}}, … in the template's components, or become the body
// parameters when the components name none.
func (c *Connector) SendTemplate(ctx context.Context, templateID int64, to string, parameters []string) (Sent, error) {
	return c.SendTemplateFor(ctx, templateID, to, parameters, 0)
}

// SendTemplateFor is SendTemplate for the router's message
// interactionMessageID (0: none), whose statuses then follow the send.
func (c *Connector) SendTemplateFor(ctx context.Context, templateID int64, to string, parameters []string, interactionMessageID int64) (Sent, error) {
	t, err := c.store.Template(ctx, templateID)
	if err != nil {
		return Sent{}, err
	}
	a, err := c.store.Account(ctx, t.AccountID)
	if err != nil {
		return Sent{}, err
	}
	if strings.TrimSpace(to) == "" {
		return Sent{}, fmt.Errorf("whatsapp: the recipient (to) is empty")
	}
	comps, err := fillComponents(t.Components, parameters)
	if err != nil {
		return Sent{}, err
	}
	body := "[template " + t.Name + "]"
	if len(parameters) > 0 {
		body += " " + strings.Join(parameters, ", ")
	}
	id, err := c.store.saveOutbound(ctx, a.ID, to, KindTemplate, body, "", outboundRefs{interactionMessage: interactionMessageID, template: t.ID})
	if err != nil {
		return Sent{}, err
	}
	tpl := map[string]any{"name": t.Name, "language": map[string]any{"code": t.Language}}
	if len(comps) > 0 {
		tpl["components"] = comps
	}
	req := providerRequest{to: to, ref: makeRef(id), meta: map[string]any{"type": "template", "template": tpl}, twilio: url.Values{}}
	// On Twilio a template is a Content API item: its name is the ContentSid.
	req.twilio.Set("ContentSid", t.Name)
	if len(parameters) > 0 {
		vars := map[string]string{}
		for i, p := range parameters {
			vars[strconv.Itoa(i+1)] = p
		}
		raw, _ := json.Marshal(vars)
		req.twilio.Set("ContentVariables", string(raw))
	}
	return c.deliver(ctx, a, id, req)
}

// fillComponents replaces {{n}} in every string of the components with the
// n-th parameter; with no placeholder at all the parameters become the body
// component's text parameters.
func fillComponents(raw json.RawMessage, params []string) ([]any, error) {
	var comps []any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &comps); err != nil {
			return nil, fmt.Errorf("whatsapp: template components: %w", err)
		}
	}
	used := false
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case string:
			for i, p := range params {
				ph := "{{" + strconv.Itoa(i+1) + "}}"
				if strings.Contains(x, ph) {
					used = true
					x = strings.ReplaceAll(x, ph, p)
				}
			}
			return x
		case []any:
			for i := range x {
				x[i] = walk(x[i])
			}
			return x
		case map[string]any:
			for k := range x {
				x[k] = walk(x[k])
			}
			return x
		}
		return v
	}
	for i := range comps {
		comps[i] = walk(comps[i])
	}
	if !used && len(params) > 0 {
		ps := make([]any, len(params))
		for i, p := range params {
			ps[i] = map[string]any{"type": "text", "text": p}
		}
		comps = append(comps, map[string]any{"type": "body", "parameters": ps})
	}
	return comps, nil
}

// Now is the connector's clock.
func (c *Connector) Now() time.Time { return c.clock.Now().UTC() }
