package whatsapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"time"
)

// ProviderError is what the provider answered when it refused a send.
type ProviderError struct {
	HTTPStatus int
	Code       int
	Title      string
	Retryable  bool
}

func (e *ProviderError) Error() string {
	return fmt.Sprintf("whatsapp provider error %d (HTTP %d): %s", e.Code, e.HTTPStatus, e.Title)
}

// Is lets errors.Is(err, ErrRejected) match a permanent refusal.
func (e *ProviderError) Is(target error) bool {
	return target == ErrRejected && !e.Retryable
}

// metaRetryable are the Graph error codes worth another try (CHANNELS.md):
// throughput and pair-rate limits, Meta's generic "something went wrong"
// and its own transient API errors. 131047 (window), 131026 (undeliverable),
// 131051 (unsupported type) and template errors are final.
var metaRetryable = map[int]bool{130429: true, 131056: true, 131000: true, 1: true, 2: true}

// twilioRetryable: Twilio's own rate limit and service errors.
var twilioRetryable = map[int]bool{20429: true, 20500: true, 20503: true}

// providerRequest is one send, ready for either provider.
type providerRequest struct {
	to   string
	ref  string
	meta map[string]any // the message object minus messaging_product/to
	// twilio form fields
	twilio url.Values
}

// post sends one request and turns the answer into a wamid/MessageSid or a
// *ProviderError. A network failure before the request left (dial) is
// retryable; one after it may have been delivered, and resending would
// duplicate the message (no idempotency key), so it is reported as
// ErrUnavailable for the status webhooks to settle.
func (c *Connector) post(ctx context.Context, a Account, req providerRequest) (string, error) {
	var hr *http.Request
	var err error
	switch a.Provider {
	case ProviderMeta:
		body := map[string]any{"messaging_product": "whatsapp", "recipient_type": "individual", "to": req.to,
			"biz_opaque_callback_data": req.ref}
		for k, v := range req.meta {
			body[k] = v
		}
		raw, _ := json.Marshal(body)
		hr, err = http.NewRequestWithContext(ctx, http.MethodPost, a.APIBaseURL+"/"+url.PathEscape(a.PhoneNumberID)+"/messages", bytes.NewReader(raw))
		if err != nil {
			return "", err
		}
		hr.Header.Set("Content-Type", "application/json")
		hr.Header.Set("Authorization", "Bearer "+a.AccessToken)
	case ProviderTwilio:
		form := url.Values{}
		for k, v := range req.twilio {
			form[k] = v
		}
		form.Set("From", "whatsapp:"+plus(a.From))
		form.Set("To", "whatsapp:"+plus(req.to))
		if c.publicURL != "" {
			form.Set("StatusCallback", fmt.Sprintf("%s/api/v1/webhooks/twilio/%d?ref=%s", c.publicURL, a.ID, url.QueryEscape(req.ref)))
		}
		hr, err = http.NewRequestWithContext(ctx, http.MethodPost,
			a.APIBaseURL+"/2010-04-01/Accounts/"+url.PathEscape(a.AccountSID)+"/Messages.json", strings.NewReader(form.Encode()))
		if err != nil {
			return "", err
		}
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		hr.SetBasicAuth(a.AccountSID, a.AuthToken)
	default:
		return "", fmt.Errorf("whatsapp: account %d has provider %q", a.ID, a.Provider)
	}
	res, err := c.http.Do(hr)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return "", &ProviderError{Code: 0, Title: "cannot reach the provider: " + err.Error(), Retryable: true}
		}
		return "", fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if a.Provider == ProviderMeta {
		return metaAnswer(res.StatusCode, raw)
	}
	return twilioAnswer(res.StatusCode, raw)
}

func plus(n string) string {
	if strings.HasPrefix(n, "+") {
		return n
	}
	return "+" + n
}

func metaAnswer(status int, raw []byte) (string, error) {
	var ans struct {
		Messages []struct {
			ID string `json:"id"`
		} `json:"messages"`
		Error *struct {
			Message   string `json:"message"`
			Code      int    `json:"code"`
			ErrorData struct {
				Details string `json:"details"`
			} `json:"error_data"`
		} `json:"error"`
	}
	_ = json.Unmarshal(raw, &ans)
	if status/100 == 2 && len(ans.Messages) > 0 && ans.Messages[0].ID != "" {
		return ans.Messages[0].ID, nil
	}
	pe := &ProviderError{HTTPStatus: status, Retryable: status >= 500 || status == http.StatusTooManyRequests}
	if ans.Error != nil {
		pe.Code, pe.Title = ans.Error.Code, ans.Error.Message
		if ans.Error.ErrorData.Details != "" {
			pe.Title += ": " + ans.Error.ErrorData.Details
		}
		if metaRetryable[pe.Code] {
			pe.Retryable = true
		}
	}
	if pe.Title == "" {
		pe.Title = fmt.Sprintf("unexpected answer (HTTP %d)", status)
	}
	return "", pe
}

func twilioAnswer(status int, raw []byte) (string, error) {
	var ans struct {
		SID     string `json:"sid"`
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(raw, &ans)
	if status/100 == 2 && ans.SID != "" {
		return ans.SID, nil
	}
	pe := &ProviderError{HTTPStatus: status, Code: ans.Code, Title: ans.Message,
		Retryable: status >= 500 || status == http.StatusTooManyRequests || twilioRetryable[ans.Code]}
	if pe.Title == "" {
		pe.Title = fmt.Sprintf("unexpected answer (HTTP %d)", status)
	}
	return "", pe
}

// sendWithRetry stores nothing; it calls the provider until it accepts, a
// permanent error comes back, or the attempts run out, backing off
// exponentially (on the injected clock) between retryable failures.
func (c *Connector) sendWithRetry(ctx context.Context, a Account, req providerRequest) (string, int, error) {
	delay := c.backoff
	for attempt := 1; ; attempt++ {
		id, err := c.post(ctx, a, req)
		if err == nil {
			return id, attempt, nil
		}
		var pe *ProviderError
		if !errors.As(err, &pe) || !pe.Retryable || attempt >= c.maxAttempts {
			if pe != nil && pe.Retryable {
				err = fmt.Errorf("%w after %d attempts: %w", ErrUnavailable, attempt, err)
			}
			return "", attempt, err
		}
		c.log.Warn("whatsapp send failed, retrying", "account", a.ID, "attempt", attempt, "code", pe.Code, "err", pe.Title, "in", delay)
		select {
		case <-ctx.Done():
			return "", attempt, ctx.Err()
		case <-c.clock.After(delay):
		}
		delay *= 2
		if delay > 5*time.Minute {
			delay = 5 * time.Minute
		}
	}
}

// Send stores an agent's reply, refuses free text outside the 24-hour window
// (ErrWindowClosed, before any provider call), then sends it with retries.
// The message stays stored whatever happens: failed with the provider's
// code and title, or pending when the provider's fate is unknown.
func (c *Connector) Send(ctx context.Context, out Outbound) (Sent, error) {
	a, err := c.store.Account(ctx, out.AccountID)
	if err != nil {
		return Sent{}, err
	}
	exp, err := c.store.WindowExpiresAt(ctx, a.ID, out.To)
	if err != nil {
		return Sent{}, err
	}
	if !c.clock.Now().Before(exp) {
		return Sent{}, fmt.Errorf("%w (conversation with %s, window_expires_at %s)", ErrWindowClosed, out.To, fmtTime(exp))
	}
	kind := KindText
	if out.MediaURL != "" {
		kind = out.MediaKind
		switch kind {
		case KindImage, KindDocument, KindAudio, KindVideo:
		case "":
			kind = KindDocument
		default:
			return Sent{}, fmt.Errorf("whatsapp: media_kind %q is not image, document, audio or video", kind)
		}
	} else if strings.TrimSpace(out.Body) == "" {
		return Sent{}, fmt.Errorf("whatsapp: body is empty")
	}
	id, err := c.store.saveOutbound(ctx, a.ID, out.To, kind, out.Body, out.MediaURL, outboundRefs{interactionMessage: out.InteractionMessageID})
	if err != nil {
		return Sent{}, err
	}
	req := providerRequest{to: out.To, ref: makeRef(id), twilio: url.Values{}}
	if kind == KindText {
		req.meta = map[string]any{"type": "text", "text": map[string]any{"body": out.Body, "preview_url": false}}
		req.twilio.Set("Body", out.Body)
	} else {
		m := map[string]any{"link": out.MediaURL}
		if out.Body != "" && kind != KindAudio {
			m["caption"] = out.Body
		}
		if kind == KindDocument && out.Filename != "" {
			m["filename"] = out.Filename
		}
		req.meta = map[string]any{"type": kind, kind: m}
		req.twilio.Set("MediaUrl", out.MediaURL)
		if out.Body != "" {
			req.twilio.Set("Body", out.Body)
		}
	}
	return c.deliver(ctx, a, id, req)
}

func (c *Connector) deliver(ctx context.Context, a Account, id int64, req providerRequest) (Sent, error) {
	ext, attempts, err := c.sendWithRetry(ctx, a, req)
	// The outcome is recorded even if the caller's context ended meanwhile.
	rctx := context.WithoutCancel(ctx)
	if err != nil {
		var pe *ProviderError
		if errors.As(err, &pe) {
			if rerr := c.store.sendResult(rctx, id, "", attempts, pe.Code, pe.Title); rerr != nil {
				return Sent{MessageID: id}, rerr
			}
		}
		return Sent{MessageID: id}, err
	}
	if err := c.store.sendResult(rctx, id, ext, attempts, 0, ""); err != nil {
		return Sent{MessageID: id, ExternalID: ext}, err
	}
	return Sent{MessageID: id, ExternalID: ext}, nil
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "never opened"
	}
	return t.UTC().Format(time.RFC3339)
}

// metaImageLimit is the largest image Meta takes as an image; a larger one
// goes as a document (100 MB), within the agents' 15 MB.
const metaImageLimit = 5 << 20

// mediaKindOf is the WhatsApp message type a file of this MIME type goes
// as; anything Meta would not play or show inline is a document.
func mediaKindOf(mimeType string, size int) string {
	switch mimeType {
	case "image/jpeg", "image/png":
		if size <= metaImageLimit {
			return KindImage
		}
	case "audio/aac", "audio/mp4", "audio/mpeg", "audio/amr", "audio/ogg":
		return KindAudio
	case "video/mp4", "video/3gpp":
		return KindVideo
	}
	return KindDocument
}

// SendFile stores an agent's file message, refuses it outside the 24-hour
// window like free text, uploads the file to the provider's media store and
// sends it by the media id. Twilio only fetches media from a public URL:
// there the file goes as a signed, expiring link to it (MediaURL), which
// needs out.File.
func (c *Connector) SendFile(ctx context.Context, out Outbound, file io.Reader, filename, mimeType string) (Sent, error) {
	a, err := c.store.Account(ctx, out.AccountID)
	if err != nil {
		return Sent{}, err
	}
	exp, err := c.store.WindowExpiresAt(ctx, a.ID, out.To)
	if err != nil {
		return Sent{}, err
	}
	if !c.clock.Now().Before(exp) {
		return Sent{}, fmt.Errorf("%w (conversation with %s, window_expires_at %s)", ErrWindowClosed, out.To, fmtTime(exp))
	}
	data, err := io.ReadAll(io.LimitReader(file, 16<<20))
	if err != nil {
		return Sent{}, fmt.Errorf("whatsapp: read the file to send: %w", err)
	}
	kind := mediaKindOf(mimeType, len(data))
	id, err := c.store.saveOutbound(ctx, a.ID, out.To, kind, out.Body, uploadPrefix+filename, outboundRefs{interactionMessage: out.InteractionMessageID})
	if err != nil {
		return Sent{}, err
	}
	rctx := context.WithoutCancel(ctx)
	fail := func(pe *ProviderError) (Sent, error) {
		if rerr := c.store.sendResult(rctx, id, "", 1, pe.Code, pe.Title); rerr != nil {
			return Sent{MessageID: id}, rerr
		}
		return Sent{MessageID: id}, pe
	}
	if a.Provider == ProviderTwilio {
		return c.sendFileByLink(ctx, a, id, out, fail)
	}
	mediaID, err := c.uploadMedia(ctx, a, data, filename, mimeType)
	var pe *ProviderError
	if errors.As(err, &pe) {
		return fail(pe)
	}
	if err != nil {
		return fail(&ProviderError{Title: "upload the file: " + err.Error()})
	}
	m := map[string]any{"id": mediaID}
	if out.Body != "" && kind != KindAudio {
		m["caption"] = out.Body
	}
	if kind == KindDocument && filename != "" {
		m["filename"] = filename
	}
	req := providerRequest{to: out.To, ref: makeRef(id), meta: map[string]any{"type": kind, kind: m}, twilio: url.Values{}}
	return c.deliver(ctx, a, id, req)
}

// sendFileByLink sends a stored file message on Twilio, which takes media
// only as a MediaUrl it fetches itself: the link is omniccd's signed,
// expiring one to the agent's file.
func (c *Connector) sendFileByLink(ctx context.Context, a Account, id int64, out Outbound, fail func(*ProviderError) (Sent, error)) (Sent, error) {
	if out.File == nil {
		return fail(&ProviderError{Title: "twilio fetches media by link: the file is not one of the agents' stored files"})
	}
	link, err := c.MediaURL(a, *out.File)
	if err != nil {
		return fail(&ProviderError{Title: err.Error()})
	}
	req := providerRequest{to: out.To, ref: makeRef(id), twilio: url.Values{}}
	req.twilio.Set("MediaUrl", link)
	if out.Body != "" {
		req.twilio.Set("Body", out.Body)
	}
	return c.deliver(ctx, a, id, req)
}

// uploadPrefix marks, in media_id, an agent's file uploaded to the
// provider: the retry job cannot resend it by link.
const uploadPrefix = "upload:"

// uploadMedia puts a file in Meta's media store (POST /{phone-number-id}/media)
// and answers its media id.
func (c *Connector) uploadMedia(ctx context.Context, a Account, data []byte, filename, mimeType string) (string, error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	_ = w.WriteField("messaging_product", "whatsapp")
	_ = w.WriteField("type", mimeType)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", mime.FormatMediaType("form-data", map[string]string{"name": "file", "filename": filename}))
	h.Set("Content-Type", mimeType)
	part, err := w.CreatePart(h)
	if err != nil {
		return "", err
	}
	_, _ = part.Write(data)
	if err := w.Close(); err != nil {
		return "", err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, a.APIBaseURL+"/"+url.PathEscape(a.PhoneNumberID)+"/media", &buf)
	if err != nil {
		return "", err
	}
	hr.Header.Set("Content-Type", w.FormDataContentType())
	hr.Header.Set("Authorization", "Bearer "+a.AccessToken)
	res, err := c.http.Do(hr)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	var ans struct {
		ID string `json:"id"`
	}
	if res.StatusCode/100 == 2 && json.Unmarshal(raw, &ans) == nil && ans.ID != "" {
		return ans.ID, nil
	}
	_, err = metaAnswer(res.StatusCode, raw)
	return "", err
}
