package presence

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// details is the JSON object stored with an agent_events row. It is encoded
// by hand because every call and pause change makes one on the event path,
// where encoding/json's reflection and a map per row cost more than the
// rest of applying the event.
type details struct {
	Box         string
	Interface   string
	Source      string
	Queue       string
	UniqueID    string
	Caller      string
	Paused      *bool
	RingMS      int
	TalkSeconds int
	HoldSeconds int
	Until       time.Time
	Channels    []string
}

// encode renders d as a JSON object, nil when it has no field.
func (d *details) encode() *string {
	if d == nil {
		return nil
	}
	b := make([]byte, 0, 96)
	b = append(b, '{')
	str := func(k, v string) {
		if v == "" {
			return
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, v)
	}
	num := func(k string, v int) {
		if v == 0 {
			return
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(v), 10)
	}
	str("box", d.Box)
	str("interface", d.Interface)
	str("source", d.Source)
	str("queue", d.Queue)
	str("uniqueid", d.UniqueID)
	str("caller", d.Caller)
	if d.Paused != nil {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, `"paused":`...)
		b = strconv.AppendBool(b, *d.Paused)
	}
	num("ring_ms", d.RingMS)
	num("talk_seconds", d.TalkSeconds)
	num("hold_seconds", d.HoldSeconds)
	if !d.Until.IsZero() {
		str("until", d.Until.UTC().Format(time.RFC3339Nano))
	}
	if d.Channels != nil {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, `"channels":[`...)
		for i, c := range d.Channels {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, c)
		}
		b = append(b, ']')
	}
	if len(b) == 1 {
		return nil
	}
	b = append(b, '}')
	s := string(b)
	return &s
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends v as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, v string) []byte {
	b = append(b, '"')
	for i := 0; i < len(v); {
		c := v[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(v[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, v[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
