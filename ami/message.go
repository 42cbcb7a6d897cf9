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
// subscribers, and With/Without return copies.
type Message struct {
	fields []Field
}

// NewMessage builds a message from key/value pairs, in order. It panics on an
// odd number of arguments, which is a programming error.
func NewMessage(kv ...string) Message {
	if len(kv)%2 != 0 {
		panic("ami.NewMessage: odd number of key/value arguments")
	}
	m := Message{fields: make([]Field, 0, len(kv)/2)}
	for i := 0; i < len(kv); i += 2 {
		m.fields = append(m.fields, Field{Key: kv[i], Value: kv[i+1]})
	}
	return m
}

// NewAction builds an action: `Action: name` followed by the key/value pairs.
// Repeat a key to send it several times (Originate's `Variable`).
func NewAction(name string, kv ...string) Message {
	if len(kv)%2 != 0 {
		panic("ami.NewAction: odd number of key/value arguments")
	}
	m := Message{fields: make([]Field, 0, 1+len(kv)/2)}
	m.fields = append(m.fields, Field{Key: "Action", Value: name})
	for i := 0; i < len(kv); i += 2 {
		m.fields = append(m.fields, Field{Key: kv[i], Value: kv[i+1]})
	}
	return m
}

// MessageFromFields builds a message from fields, copying them.
func MessageFromFields(fields []Field) Message {
	return Message{fields: append([]Field(nil), fields...)}
}

// keyIs reports whether k names key; Asterisk compares header names without
// regard to case (astman_get_header uses strncasecmp).
func keyIs(k, key string) bool {
	return len(k) == len(key) && (k == key || strings.EqualFold(k, key))
}

// Lookup returns the value of the first field named key (case-insensitive).
func (m Message) Lookup(key string) (string, bool) {
	for i := range m.fields {
		if keyIs(m.fields[i].Key, key) {
			return m.fields[i].Value, true
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
	for i := range m.fields {
		if keyIs(m.fields[i].Key, key) {
			out = append(out, m.fields[i].Value)
		}
	}
	return out
}

// Keys returns the field names in wire order, repeats included.
func (m Message) Keys() []string {
	out := make([]string, len(m.fields))
	for i := range m.fields {
		out[i] = m.fields[i].Key
	}
	return out
}

// Fields returns a copy of the fields in wire order.
func (m Message) Fields() []Field {
	return append([]Field(nil), m.fields...)
}

// Len is the number of fields.
func (m Message) Len() int { return len(m.fields) }

// Field returns the i-th field; it lets hot paths walk a message without the
// copy Fields makes.
func (m Message) Field(i int) Field { return m.fields[i] }

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
	fields := make([]Field, len(m.fields), len(m.fields)+1)
	copy(fields, m.fields)
	return Message{fields: append(fields, Field{Key: key, Value: value})}
}

// Without returns a copy of m without any field named key.
func (m Message) Without(key string) Message {
	fields := make([]Field, 0, len(m.fields))
	for _, f := range m.fields {
		if !keyIs(f.Key, key) {
			fields = append(fields, f)
		}
	}
	return Message{fields: fields}
}

// Equal reports whether both messages have the same fields in the same order.
func (m Message) Equal(o Message) bool {
	if len(m.fields) != len(o.fields) {
		return false
	}
	for i := range m.fields {
		if m.fields[i] != o.fields[i] {
			return false
		}
	}
	return true
}

// String renders m as on the wire, one `Key: Value` per line, for logs and
// test failures. Secrets are masked so that a logged Login never leaks one.
func (m Message) String() string {
	var b strings.Builder
	for i, f := range m.fields {
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
