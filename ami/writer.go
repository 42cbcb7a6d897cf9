package ami

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidAction is wrapped by errors about actions that cannot be put on
// the wire safely.
var ErrInvalidAction = errors.New("ami: invalid action")

// AppendAction appends the wire form of action to dst with actionID as its
// ActionID: the client owns correlation, so any ActionID already in action
// is replaced. Keys and values are checked because a value holding CR or LF
// would let text that came from an API user inject extra headers or a whole
// extra action into the manager session.
func AppendAction(dst []byte, action Message, actionID string) ([]byte, error) {
	name := action.Get("Action")
	if name == "" {
		return dst, fmt.Errorf("%w: no Action field; build it with ami.NewAction", ErrInvalidAction)
	}
	if strings.ContainsAny(actionID, "\r\n") {
		return dst, fmt.Errorf("%w: ActionID %q contains a line break", ErrInvalidAction, actionID)
	}
	for i := range action.spans {
		f := action.Field(i)
		if f.Key == "" || strings.ContainsAny(f.Key, ":\r\n") {
			return dst, fmt.Errorf("%w: %s field name %q must be non-empty without ':' or line breaks", ErrInvalidAction, name, f.Key)
		}
		if strings.ContainsAny(f.Value, "\r\n") {
			return dst, fmt.Errorf("%w: %s field %s holds a line break; remove it from the value", ErrInvalidAction, name, f.Key)
		}
	}
	wroteID := false
	for i := range action.spans {
		f := action.Field(i)
		if keyIs(f.Key, "ActionID") {
			continue
		}
		dst = appendField(dst, f.Key, f.Value)
		// Right after Action, so that a trace of the wire reads naturally.
		if !wroteID && keyIs(f.Key, "Action") {
			dst = appendField(dst, "ActionID", actionID)
			wroteID = true
		}
	}
	return append(dst, '\r', '\n'), nil
}

// AppendMessage appends m as Asterisk writes it: `Key: Value` lines ending in
// CRLF and an empty line. Only LF is refused in keys and values, because the
// reader splits lines on LF alone; test servers use it to send exactly the
// bytes they are given.
func AppendMessage(dst []byte, m Message) ([]byte, error) {
	if len(m.spans) == 0 {
		return dst, fmt.Errorf("%w: empty message", ErrInvalidAction)
	}
	for i := range m.spans {
		f := m.Field(i)
		if strings.Contains(f.Key, "\n") || strings.Contains(f.Value, "\n") || strings.Contains(f.Key, ":") {
			return dst, fmt.Errorf("%w: field %q holds a line break or a colon in its name", ErrInvalidAction, f.Key)
		}
	}
	for i := range m.spans {
		dst = appendField(dst, m.key(i), m.value(i))
	}
	return append(dst, '\r', '\n'), nil
}

func appendField(dst []byte, key, value string) []byte {
	dst = append(dst, key...)
	dst = append(dst, ':', ' ')
	dst = append(dst, value...)
	return append(dst, '\r', '\n')
}
