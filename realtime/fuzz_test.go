package realtime

import (
	"strings"
	"testing"
)

// FuzzParseRequest feeds arbitrary query strings and bodies to the parser of
// network bytes. The corpus in testdata/fuzz/FuzzParseRequest holds every
// request of the capture plus the malformed shapes Asterisk is known to send.
// Beyond not panicking, whatever is accepted must be safe to build SQL from:
// columns made of [A-Za-z0-9_] only and operators from the fixed list.
func FuzzParseRequest(f *testing.F) {
	f.Add("single", "", "id=agent200")
	f.Add("update", "&queue_name=rtsalesinterface=PJSIP%2Fagent201", "&membername=Agent_201")
	f.Add("destroy", "", "id=agent200%3B%407775b683038e304b91df32a58dfcd7b6&")
	known := columnSet("queue_name", "interface", "membername", "id", "context", "mailbox", "password", "imappassword")
	f.Fuzz(func(t *testing.T, verb, query, body string) {
		req, err := ParseRequest(Verb(verb), query, body, known)
		if err != nil {
			if req != nil {
				t.Fatalf("error %v with a request", err)
			}
			return
		}
		check := func(col string) {
			if col == "" || strings.IndexFunc(col, func(r rune) bool { return r >= 128 || !isColumnByte(byte(r)) }) >= 0 {
				t.Fatalf("accepted column %q", col)
			}
		}
		for _, c := range req.Where {
			check(c.Column)
			if _, ok := operators[c.Op]; !ok {
				t.Fatalf("accepted operator %q", c.Op)
			}
		}
		for _, p := range req.Set {
			check(p.Key)
		}
		for _, r := range req.Require {
			check(r.Column)
		}
		// Whatever was decoded encodes back to what decodes to it again.
		for _, p := range req.Set {
			again, err := ParsePairs(Escape(p.Key) + "=" + Escape(p.Value))
			if err != nil || len(again) != 1 || again[0] != p {
				t.Fatalf("round trip of %+v gave %+v %v", p, again, err)
			}
		}
	})
}
