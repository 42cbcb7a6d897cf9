package ami

import (
	"strings"
)

// Field is one `Key: Value` line of a manager message.
type Field struct {
	Key   string
	Value string
}

// Message is one manager message (action, response or event) with its fields
// in wire order. Keys may repeat — `Variable`, `ChanVariable` and `Output`
// do — so a Message is a list, never a map.
//
// A Message is immutable once built: readers share the same value between
// subscribers, and With/Without return copies. It holds all its text in one
// string and locates fields with pointer-free offsets, so a parsed message
// costs two allocations and nothing for the garbage collector to scan.
type Message struct {
	raw   string
	spans []fieldSpan
}

// fieldSpan locates one key and its value in Message.raw.
type fieldSpan struct{ keyStart, keyEnd, valStart, valEnd uint32 }

// NewMessage builds a message from key/value pairs, in order. It panics on an
// odd number of arguments, which is a programming error.
func NewMessage(kv ...string) Message {
	if len(kv)%2 != 0 {
		panic("ami.NewMessage: odd number of key/value arguments")
	}
	fields := make([]Field, 0, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		fields = append(fields, Field{Key: kv[i], Value: kv[i+1]})
	}
	return MessageFromFields(fields)
}

// NewAction builds an action: `Action: name` followed by the key/value pairs.
// Repeat a key to send it several times (Originate's `Variable`).
func NewAction(name string, kv ...string) Message {
	if len(kv)%2 != 0 {
		panic("ami.NewAction: odd number of key/value arguments")
	}
	return NewMessage(append([]string{"Action", name}, kv...)...)
}

// MessageFromFields builds a message from fields, copying them.
func MessageFromFields(fields []Field) Message {
	n := 0
	for _, f := range fields {
		n += len(f.Key) + len(f.Value)
	}
	var b strings.Builder
	b.Grow(n)
	spans := make([]fieldSpan, len(fields))
	for i, f := range fields {
		sp := &spans[i]
		sp.keyStart = uint32(b.Len())
		b.WriteString(f.Key)
		sp.keyEnd = uint32(b.Len())
		sp.valStart = sp.keyEnd
		b.WriteString(f.Value)
		sp.valEnd = uint32(b.Len())
	}
	return Message{raw: b.String(), spans: spans}
}

func (m Message) key(i int) string {
	sp := &m.spans[i]
	return m.raw[sp.keyStart:sp.keyEnd]
}

func (m Message) value(i int) string {
	sp := &m.spans[i]
	return m.raw[sp.valStart:sp.valEnd]
}

// keyIs reports whether k names key; Asterisk compares header names without
// regard to case (astman_get_header uses strncasecmp).
func keyIs(k, key string) bool {
	return len(k) == len(key) && (k == key || strings.EqualFold(k, key))
}

// Lookup returns the value of the first field named key (case-insensitive).
func (m Message) Lookup(key string) (string, bool) {
	for i := range m.spans {
		if keyIs(m.key(i), key) {
			return m.value(i), true
		}
	}
	return "", false
}

// Get returns the value of the first field named key (case-insensitive), or
// "" when there is none.
func (m Message) Get(key string) string {
	v, _ := m.Lookup(key)
	return v
}

// All returns the values of every field named key, in order: the lines of a
// Command's `Output`, or each `ChanVariable` of an event.
func (m Message) All(key string) []string {
	var out []string
	for i := range m.spans {
		if keyIs(m.key(i), key) {
			out = append(out, m.value(i))
		}
	}
	return out
}

// Keys returns the field names in wire order, repeats included.
func (m Message) Keys() []string {
	out := make([]string, len(m.spans))
	for i := range m.spans {
		out[i] = m.key(i)
	}
	return out
}

// Fields returns the fields in wire order, in a new slice.
func (m Message) Fields() []Field {
	out := make([]Field, len(m.spans))
	for i := range m.spans {
		out[i] = Field{Key: m.key(i), Value: m.value(i)}
	}
	return out
}

// Len is the number of fields.
func (m Message) Len() int { return len(m.spans) }

// Field returns the i-th field; it lets hot paths walk a message without
// the slice Fields makes.
func (m Message) Field(i int) Field { return Field{Key: m.key(i), Value: m.value(i)} }

// Event is the event name, "" when m is not an event.
func (m Message) Event() string { return m.Get("Event") }

// ActionID is the correlation id Asterisk copies from the action into its
// response and list items.
func (m Message) ActionID() string { return m.Get("ActionID") }

// IsEvent reports whether m is an event.
func (m Message) IsEvent() bool { _, ok := m.Lookup("Event"); return ok }

// IsResponse reports whether m is the direct response to an action. An
// event is never one, even OriginateResponse, which carries a `Response`
// field of its own.
func (m Message) IsResponse() bool {
	_, ok := m.Lookup("Response")
	return ok && !m.IsEvent()
}

// With returns a copy of m with one more field at the end; m is unchanged.
func (m Message) With(key, value string) Message {
	return MessageFromFields(append(m.Fields(), Field{Key: key, Value: value}))
}

// Without returns a copy of m without any field named key.
func (m Message) Without(key string) Message {
	fields := make([]Field, 0, len(m.spans))
	for i := range m.spans {
		if !keyIs(m.key(i), key) {
			fields = append(fields, m.Field(i))
		}
	}
	return MessageFromFields(fields)
}

// Equal reports whether both messages have the same fields in the same order.
func (m Message) Equal(o Message) bool {
	if len(m.spans) != len(o.spans) {
		return false
	}
	for i := range m.spans {
		if m.key(i) != o.key(i) || m.value(i) != o.value(i) {
			return false
		}
	}
	return true
}

// String renders m as on the wire, one `Key: Value` per line, for logs and
// test failures. Secrets are masked so that a logged Login never leaks one.
func (m Message) String() string {
	var b strings.Builder
	for i := range m.spans {
		f := m.Field(i)
		if i > 0 {
			b.WriteString("\n")
		}
		if f.Key != "" {
			b.WriteString(f.Key)
			b.WriteString(": ")
		}
		if keyIs(f.Key, "Secret") || keyIs(f.Key, "Key") {
			b.WriteString("***")
			continue
		}
		b.WriteString(f.Value)
	}
	return b.String()
}
