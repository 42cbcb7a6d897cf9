package directory

import (
	"strings"
	"unicode"
)

// Names reach Asterisk: an agent's full name becomes ps_endpoints.callerid
// and the voicemail fullname, a pause type's name is the Reason of an AMI
// QueuePause and a field of queue_log. A newline there ends an AMI header
// or a callerid early, a '|' adds a queue_log field; so such values are
// refused at the door rather than escaped in every place that writes them.

// oneLine refuses control characters (newline, tab, NUL, DEL, ...) in a
// value that reaches Asterisk.
func oneLine(field, v string) error {
	for _, r := range v {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return fieldErr(field, "must be one line of printable characters: %q contains the control character %U", v, r)
		}
	}
	return nil
}

// queueLogUnsafe are the characters that split a queue_log line ('|'), an
// application's arguments in the dialplan (',' ';') or a quoted callerid
// ('"' '\').
const queueLogUnsafe = `|,;"\`

// reasonText refuses what oneLine refuses and queueLogUnsafe: for values
// written into queue_log and AMI headers verbatim (pause reasons).
func reasonText(field, v string) error {
	if err := oneLine(field, v); err != nil {
		return err
	}
	if i := strings.IndexAny(v, queueLogUnsafe); i >= 0 {
		return fieldErr(field, "%q must not contain %q: it separates fields in queue_log or dialplan arguments (refused: %s)", v, v[i:i+1], queueLogUnsafe)
	}
	return nil
}
