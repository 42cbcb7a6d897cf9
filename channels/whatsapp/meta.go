package whatsapp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrBadSignature: a webhook delivery whose signature is missing or wrong.
// Nothing of it is parsed or stored.
var ErrBadSignature = errors.New("whatsapp: webhook signature missing or wrong")

// ErrMalformed: a signed delivery that is not the provider's shape.
var ErrMalformed = errors.New("whatsapp: malformed webhook delivery")

// VerifyMetaSignature checks X-Hub-Signature-256 ("sha256=<hex>") against
// the HMAC-SHA256 of the raw body with the app secret, in constant time.
// It runs before any parsing, so an unsigned body never reaches the decoder.
func VerifyMetaSignature(appSecret, header string, body []byte) error {
	hexSig, ok := strings.CutPrefix(strings.TrimSpace(header), "sha256=")
	if !ok || appSecret == "" {
		return ErrBadSignature
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return ErrBadSignature
	}
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return ErrBadSignature
	}
	return nil
}

// SignMeta is the X-Hub-Signature-256 value of body (for tests and tools).
func SignMeta(appSecret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Delivery is everything one webhook call carried, already flattened: Meta
// batches several entries, changes, messages and statuses in one POST.
type Delivery struct {
	Messages []InboundMessage
	Statuses []StatusEvent
}

// InboundMessage is one customer message as parsed from a webhook.
type InboundMessage struct {
	RouteKey   string // Meta: metadata.phone_number_id; Twilio: the To number
	ExternalID string
	From       string
	Name       string
	Kind       string
	Body       string
	Payload    string
	ReplyTo    string
	Media      *Media
	Raw        json.RawMessage // the provider's message object, kept for audit
	At         time.Time
}

// StatusEvent is one delivery status of an outbound message.
type StatusEvent struct {
	RouteKey   string // Meta: metadata.phone_number_id
	ExternalID string
	Status     string // sent, delivered, read, failed (normalised)
	Ref        string // our biz_opaque_callback_data
	ErrorCode  int
	ErrorTitle string
	Pricing    json.RawMessage
	At         time.Time
}

type metaPayload struct {
	Object string `json:"object"`
	Entry  []struct {
		ID      string `json:"id"`
		Changes []struct {
			Field string          `json:"field"`
			Value json.RawMessage `json:"value"`
		} `json:"changes"`
	} `json:"entry"`
}

// metaValue is the value of a "messages" change.
type metaValue struct {
	MessagingProduct string `json:"messaging_product"`
	Metadata         struct {
		DisplayPhoneNumber string `json:"display_phone_number"`
		PhoneNumberID      string `json:"phone_number_id"`
	} `json:"metadata"`
	Contacts []struct {
		Profile struct {
			Name string `json:"name"`
		} `json:"profile"`
		WaID   string `json:"wa_id"`
		UserID string `json:"user_id"`
	} `json:"contacts"`
	Messages []json.RawMessage `json:"messages"`
	Statuses []metaStatus      `json:"statuses"`
	Errors   []metaError       `json:"errors"`
}

type metaError struct {
	Code      int    `json:"code"`
	Title     string `json:"title"`
	Message   string `json:"message"`
	ErrorData struct {
		Details string `json:"details"`
	} `json:"error_data"`
}

func (e metaError) text() string {
	t := e.Title
	if t == "" {
		t = e.Message
	}
	if e.ErrorData.Details != "" && e.ErrorData.Details != t {
		t += ": " + e.ErrorData.Details
	}
	return t
}

type metaStatus struct {
	ID                    string          `json:"id"`
	Status                string          `json:"status"`
	Timestamp             string          `json:"timestamp"`
	RecipientID           string          `json:"recipient_id"`
	BizOpaqueCallbackData string          `json:"biz_opaque_callback_data"`
	Errors                []metaError     `json:"errors"`
	Pricing               json.RawMessage `json:"pricing"`
}

type metaMedia struct {
	ID       string `json:"id"`
	MIMEType string `json:"mime_type"`
	SHA256   string `json:"sha256"`
	Caption  string `json:"caption"`
	Filename string `json:"filename"`
}

type metaMessage struct {
	ID         string `json:"id"`
	From       string `json:"from"`
	FromUserID string `json:"from_user_id"`
	Timestamp  string `json:"timestamp"`
	Type       string `json:"type"`
	Context    *struct {
		From string `json:"from"`
		ID   string `json:"id"`
	} `json:"context"`
	Text *struct {
		Body string `json:"body"`
	} `json:"text"`
	Image    *metaMedia `json:"image"`
	Audio    *metaMedia `json:"audio"`
	Video    *metaMedia `json:"video"`
	Document *metaMedia `json:"document"`
	Sticker  *metaMedia `json:"sticker"`
	Location *struct {
		Latitude  float64 `json:"latitude"`
		Longitude float64 `json:"longitude"`
		Name      string  `json:"name"`
		Address   string  `json:"address"`
	} `json:"location"`
	Contacts []struct {
		Name struct {
			FormattedName string `json:"formatted_name"`
		} `json:"name"`
		Phones []struct {
			Phone string `json:"phone"`
		} `json:"phones"`
	} `json:"contacts"`
	Interactive *struct {
		Type        string `json:"type"`
		ButtonReply *struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		} `json:"button_reply"`
		ListReply *struct {
			ID          string `json:"id"`
			Title       string `json:"title"`
			Description string `json:"description"`
		} `json:"list_reply"`
	} `json:"interactive"`
	Button *struct {
		Payload string `json:"payload"`
		Text    string `json:"text"`
	} `json:"button"`
	Reaction *struct {
		MessageID string `json:"message_id"`
		Emoji     string `json:"emoji"`
	} `json:"reaction"`
	System *struct {
		Body string `json:"body"`
	} `json:"system"`
	Errors []metaError `json:"errors"`
}

// ParseMeta flattens a Meta Cloud API webhook body: every entry, change,
// message and status. A message it cannot read is kept as an "unsupported"
// placeholder rather than dropped, so the agent sees that something came.
func ParseMeta(body []byte) (Delivery, error) {
	var p metaPayload
	var d Delivery
	if err := json.Unmarshal(body, &p); err != nil {
		return d, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if p.Object != "" && p.Object != "whatsapp_business_account" {
		return d, fmt.Errorf("%w: object %q is not whatsapp_business_account", ErrMalformed, p.Object)
	}
	for _, e := range p.Entry {
		for _, ch := range e.Changes {
			// Other fields (template status, account updates, …) share the
			// webhook and have other shapes: they are not messages.
			if ch.Field != "messages" && ch.Field != "" {
				continue
			}
			var v metaValue
			if len(ch.Value) > 0 {
				if err := json.Unmarshal(ch.Value, &v); err != nil {
					return d, fmt.Errorf("%w: entry %s change value: %v", ErrMalformed, e.ID, err)
				}
			}
			names := map[string]string{}
			var only string
			for _, c := range v.Contacts {
				if c.WaID != "" {
					names[c.WaID] = c.Profile.Name
				}
				if c.UserID != "" {
					names[c.UserID] = c.Profile.Name
				}
				only = c.WaID
				if only == "" {
					only = c.UserID
				}
			}
			for _, raw := range v.Messages {
				var m metaMessage
				if err := json.Unmarshal(raw, &m); err != nil {
					return d, fmt.Errorf("%w: entry %s message: %v", ErrMalformed, e.ID, err)
				}
				if m.ID == "" {
					return d, fmt.Errorf("%w: a message has no id", ErrMalformed)
				}
				in := metaInbound(m)
				in.RouteKey = v.Metadata.PhoneNumberID
				in.Raw = raw
				// The phone number may be withheld: the business-scoped
				// user id is then the contact's identity.
				if in.From == "" {
					in.From = only
				}
				if in.From == "" {
					return d, fmt.Errorf("%w: message %s has no sender (from, from_user_id or contacts)", ErrMalformed, m.ID)
				}
				in.Name = names[in.From]
				d.Messages = append(d.Messages, in)
			}
			for _, st := range v.Statuses {
				if st.ID == "" {
					return d, fmt.Errorf("%w: a status has no id", ErrMalformed)
				}
				ev := StatusEvent{RouteKey: v.Metadata.PhoneNumberID, ExternalID: st.ID, Status: st.Status, Ref: st.BizOpaqueCallbackData,
					At: unixString(st.Timestamp), Pricing: st.Pricing}
				if len(st.Errors) > 0 {
					ev.ErrorCode, ev.ErrorTitle = st.Errors[0].Code, st.Errors[0].text()
				}
				d.Statuses = append(d.Statuses, ev)
			}
		}
	}
	return d, nil
}

func unixString(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}

func metaInbound(m metaMessage) InboundMessage {
	in := InboundMessage{ExternalID: m.ID, From: m.From, Kind: m.Type, At: unixString(m.Timestamp)}
	if in.From == "" {
		in.From = m.FromUserID
	}
	if m.Context != nil {
		in.ReplyTo = m.Context.ID
	}
	media := func(md *metaMedia) {
		if md == nil {
			in.Body = "[" + m.Type + "]"
			return
		}
		in.Media = &Media{ID: md.ID, MIMEType: md.MIMEType, SHA256: md.SHA256, Filename: md.Filename}
		in.Body = md.Caption
		if in.Body == "" && md.Filename != "" {
			in.Body = md.Filename
		}
	}
	switch m.Type {
	case KindText:
		if m.Text != nil {
			in.Body = m.Text.Body
		}
	case KindImage:
		media(m.Image)
	case KindAudio:
		media(m.Audio)
	case KindVideo:
		media(m.Video)
	case KindDocument:
		media(m.Document)
	case KindSticker:
		media(m.Sticker)
	case KindLocation:
		if l := m.Location; l != nil {
			parts := []string{}
			for _, s := range []string{l.Name, l.Address} {
				if s != "" {
					parts = append(parts, s)
				}
			}
			parts = append(parts, fmt.Sprintf("%.6f,%.6f", l.Latitude, l.Longitude))
			in.Body = "Location: " + strings.Join(parts, ", ")
		}
	case KindContacts:
		var cs []string
		for _, c := range m.Contacts {
			s := c.Name.FormattedName
			for _, p := range c.Phones {
				s += " " + p.Phone
			}
			cs = append(cs, strings.TrimSpace(s))
		}
		in.Body = "Contact: " + strings.Join(cs, "; ")
	case KindInteractive:
		if it := m.Interactive; it != nil {
			switch {
			case it.ButtonReply != nil:
				in.Body, in.Payload = it.ButtonReply.Title, it.ButtonReply.ID
			case it.ListReply != nil:
				in.Body, in.Payload = it.ListReply.Title, it.ListReply.ID
			}
		}
	case KindButton:
		if m.Button != nil {
			in.Body, in.Payload = m.Button.Text, m.Button.Payload
		}
	case KindReaction:
		if m.Reaction != nil {
			in.ReplyTo = m.Reaction.MessageID
			in.Body = "Reaction: " + m.Reaction.Emoji
			if m.Reaction.Emoji == "" {
				in.Body = "Reaction removed"
			}
		}
	case "system":
		if m.System != nil {
			in.Body = m.System.Body
		}
	default:
		in.Kind = KindUnsupported
		in.Body = "[unsupported WhatsApp message type " + strconv.Quote(m.Type) + "]"
		if len(m.Errors) > 0 {
			in.Body += ": " + m.Errors[0].text()
		}
	}
	return in
}
