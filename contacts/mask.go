package contacts

import (
	"strings"
	"unicode/utf8"
)

// Masking hides personal data from agents with mask_sensitive_data set:
// enough is left to tell contacts apart ("Jane" → "J•••", "+39 ••• ••• 5678",
// "j•••@example.com"); the real values stay in the database for the
// server-side actions that need them (click-to-call, a WhatsApp send).

const dots = "•••"

func maskName(s string) string {
	if s == "" {
		return ""
	}
	r, _ := utf8.DecodeRuneInString(s)
	return string(r) + dots
}

// MaskNumber keeps a leading + with two digits and the last four digits.
func MaskNumber(s string) string {
	d := digitsOf(s)
	if d == "" {
		return ""
	}
	if len(d) <= 4 {
		return dots
	}
	head := ""
	if strings.HasPrefix(strings.TrimSpace(s), "+") && len(d) > 8 {
		head = "+" + d[:2] + " "
	}
	return head + dots + " " + dots + " " + d[len(d)-4:]
}

// MaskEmail keeps the first letter and the domain.
func MaskEmail(s string) string {
	local, domain, ok := strings.Cut(s, "@")
	if !ok {
		return maskName(s)
	}
	return maskName(local) + "@" + domain
}

// Masked is a copy of c with names, numbers, e-mail addresses and external
// ids masked.
func Masked(c *Contact) *Contact {
	out := *c
	out.FirstName, out.LastName = maskName(c.FirstName), maskName(c.LastName)
	out.Phone, out.Mobile = MaskNumber(c.Phone), MaskNumber(c.Mobile)
	out.Email = MaskEmail(c.Email)
	out.Emails = make([]string, len(c.Emails))
	for i, e := range c.Emails {
		out.Emails[i] = MaskEmail(e)
	}
	out.ExternalIDs = make(map[string]string, len(c.ExternalIDs))
	for ch, id := range c.ExternalIDs {
		if strings.Contains(id, "@") {
			out.ExternalIDs[ch] = MaskEmail(id)
		} else if len(id) > 4 {
			out.ExternalIDs[ch] = dots + id[len(id)-4:]
		} else {
			out.ExternalIDs[ch] = dots
		}
	}
	return &out
}

// MaskIdentity masks a customer's identity on a channel whose kind is not
// known: an e-mail address as one, something mostly digits (a phone
// number, a WhatsApp wa_id) as a number, anything else as a name.
func MaskIdentity(s string) string {
	s = strings.TrimSpace(s)
	switch d := digitsOf(s); {
	case s == "":
		return ""
	case strings.Contains(s, "@"):
		return MaskEmail(s)
	case len(d) >= 5 && len(d)*2 >= utf8.RuneCountInString(s):
		return MaskNumber(s)
	default:
		return maskName(s)
	}
}

// MaskName masks a person's name ("Jane Doe" → "J••• D•••").
func MaskName(s string) string {
	words := strings.Fields(s)
	for i, w := range words {
		words[i] = maskName(w)
	}
	return strings.Join(words, " ")
}
