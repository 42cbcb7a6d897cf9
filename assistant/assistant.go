// Package assistant calls AI assistants' webhooks: the bot that takes a
// digital queue's new conversations before agents (router.Bot).
package assistant

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"omnicc/directory"
	"omnicc/router"
)

// SignatureHeader carries sha256=<hex HMAC-SHA256(webhook_secret, raw body)>
// on every call, as the open channel signs its replies.
const SignatureHeader = "X-Omnicc-Signature"

// Assistants reads an assistant's webhook: directory.AIAssistants().
type Assistants interface {
	Get(ctx context.Context, id int64) (*directory.AIAssistant, error)
}

// Options builds a Client.
type Options struct {
	Assistants Assistants
	HTTP       *http.Client
	// Timeout bounds one call; a late bot is a failed bot (agents take
	// over). Default 10s.
	Timeout time.Duration
}

// Client is the router's Bot.
type Client struct {
	o Options
}

// New builds a client.
func New(o Options) *Client {
	if o.HTTP == nil {
		o.HTTP = &http.Client{}
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	return &Client{o: o}
}

// ErrNoWebhook: the assistant has no webhook_url.
var ErrNoWebhook = errors.New("assistant: no webhook_url")

// Ask POSTs the customer's message to the assistant's webhook, signed, and
// reads its answer: {"replies": ["…"], "handoff": false, "reason": ""}.
func (c *Client) Ask(ctx context.Context, assistantID int64, turn router.BotTurn) (router.BotAnswer, error) {
	a, err := c.o.Assistants.Get(ctx, assistantID)
	if err != nil {
		return router.BotAnswer{}, fmt.Errorf("assistant %d: %w", assistantID, err)
	}
	if a.WebhookURL == "" {
		return router.BotAnswer{}, fmt.Errorf("assistant %s: %w", a.Name, ErrNoWebhook)
	}
	body, err := json.Marshal(turn)
	if err != nil {
		return router.BotAnswer{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return router.BotAnswer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, Sign(a.WebhookSecret, body))
	res, err := c.o.HTTP.Do(req)
	if err != nil {
		return router.BotAnswer{}, fmt.Errorf("assistant %s: %w", a.Name, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return router.BotAnswer{}, fmt.Errorf("assistant %s: read the answer: %w", a.Name, err)
	}
	if res.StatusCode/100 != 2 {
		return router.BotAnswer{}, fmt.Errorf("assistant %s answered HTTP %d", a.Name, res.StatusCode)
	}
	var ans router.BotAnswer
	if err := json.Unmarshal(raw, &ans); err != nil {
		return router.BotAnswer{}, fmt.Errorf("assistant %s: the answer is not {\"replies\", \"handoff\"}: %w", a.Name, err)
	}
	return ans, nil
}

// Sign is the signature header's value for body.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}
