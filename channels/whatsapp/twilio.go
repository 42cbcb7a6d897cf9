package whatsapp

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// TwilioSignature is base64(HMAC-SHA1(auth token, the exact URL Twilio
// called + every POST name and value, sorted by name)).
func TwilioSignature(authToken, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range keys {
		vs := append([]string(nil), form[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// VerifyTwilioSignature checks X-Twilio-Signature in constant time. fullURL
// must be the public URL Twilio called (OMNICC_PUBLIC_URL + path + query),
// not the one a TLS-terminating proxy forwarded to us.
func VerifyTwilioSignature(authToken, fullURL string, form url.Values, header string) error {
	if authToken == "" || header == "" {
		return ErrBadSignature
	}
	want := TwilioSignature(authToken, fullURL, form)
	if !hmac.Equal([]byte(want), []byte(strings.TrimSpace(header))) {
		return ErrBadSignature
	}
	return nil
}

// ParseTwilio reads a Twilio webhook: an inbound message (MessageSid with
// Body/NumMedia) or a status callback (MessageStatus).
func ParseTwilio(form url.Values, now time.Time) (Delivery, error) {
	var d Delivery
	sid := form.Get("MessageSid")
	if sid == "" {
		sid = form.Get("SmsSid")
	}
	if sid == "" {
		return d, fmt.Errorf("%w: MessageSid is missing", ErrMalformed)
	}
	if st := form.Get("MessageStatus"); st != "" && form.Get("Body") == "" && form.Get("NumMedia") == "" {
		ev := StatusEvent{ExternalID: sid, Ref: form.Get("ref"), At: now}
		switch st {
		case "sent", "delivered", "read":
			ev.Status = st
		case "failed", "undelivered":
			ev.Status = "failed"
			ev.ErrorCode, _ = strconv.Atoi(form.Get("ErrorCode"))
			ev.ErrorTitle = form.Get("ErrorMessage")
			if ev.ErrorTitle == "" {
				ev.ErrorTitle = "Twilio error " + form.Get("ErrorCode")
			}
		default: // queued, accepted, sending: nothing an agent needs to see
			return d, nil
		}
		d.Statuses = append(d.Statuses, ev)
		return d, nil
	}
	from := strings.TrimPrefix(form.Get("From"), "whatsapp:")
	waID := form.Get("WaId")
	if waID == "" {
		waID = strings.TrimPrefix(from, "+")
	}
	if waID == "" {
		return d, fmt.Errorf("%w: From and WaId are missing", ErrMalformed)
	}
	in := InboundMessage{RouteKey: strings.TrimPrefix(form.Get("To"), "whatsapp:"), ExternalID: sid, From: waID,
		Name: form.Get("ProfileName"), Kind: KindText, Body: form.Get("Body"), At: now}
	if orig := form.Get("OriginalRepliedMessageSid"); orig != "" {
		in.ReplyTo = orig
	}
	switch {
	case form.Get("ButtonPayload") != "":
		in.Kind, in.Payload = KindButton, form.Get("ButtonPayload")
		if t := form.Get("ButtonText"); t != "" {
			in.Body = t
		}
	case form.Get("Latitude") != "":
		in.Kind = KindLocation
		in.Body = "Location: " + strings.Trim(strings.Join([]string{form.Get("Label"), form.Get("Address"),
			form.Get("Latitude") + "," + form.Get("Longitude")}, ", "), ", ")
	}
	n, _ := strconv.Atoi(form.Get("NumMedia"))
	if n > 10 {
		n = 10
	}
	msgs := []InboundMessage{in}
	for i := 0; i < n; i++ {
		mu := form.Get(fmt.Sprintf("MediaUrl%d", i))
		if mu == "" {
			continue
		}
		ct := form.Get(fmt.Sprintf("MediaContentType%d", i))
		m := in
		m.Media = &Media{ID: mu, MIMEType: ct}
		m.Kind = kindOfMIME(ct)
		if i > 0 {
			// One stored message per file (the seeds' one file per
			// message), each with its own stable key.
			m.ExternalID = fmt.Sprintf("%s/%d", sid, i)
			m.Body = ""
		}
		if i == 0 {
			msgs[0] = m
		} else {
			msgs = append(msgs, m)
		}
	}
	d.Messages = msgs
	return d, nil
}

func kindOfMIME(ct string) string {
	switch {
	case strings.HasPrefix(ct, "image/webp"):
		return KindSticker
	case strings.HasPrefix(ct, "image/"):
		return KindImage
	case strings.HasPrefix(ct, "audio/"):
		return KindAudio
	case strings.HasPrefix(ct, "video/"):
		return KindVideo
	}
	return KindDocument
}
