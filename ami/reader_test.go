package ami

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

func readAll(t *testing.T, in string, lim Limits) ([]Message, error) {
	t.Helper()
	r := NewReader(strings.NewReader(in), lim)
	var out []Message
	for {
		m, err := r.ReadMessage()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, m)
	}
}

func fieldsOf(m Message) [][2]string {
	var out [][2]string
	for _, f := range m.Fields() {
		out = append(out, [2]string{f.Key, f.Value})
	}
	return out
}

func TestReadMessage(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want [][][2]string
	}{
		{
			name: "crlf",
			in:   "Response: Success\r\nActionID: 1\r\nMessage: Authentication accepted\r\n\r\n",
			want: [][][2]string{{{"Response", "Success"}, {"ActionID", "1"}, {"Message", "Authentication accepted"}}},
		},
		{
			name: "lf only",
			in:   "Event: FullyBooted\nStatus: Fully Booted\n\nEvent: Ping\n\n",
			want: [][][2]string{{{"Event", "FullyBooted"}, {"Status", "Fully Booted"}}, {{"Event", "Ping"}}},
		},
		{
			name: "value with colons",
			in:   "Event: RequestBadFormat\r\nRequestType: Action: NoSuchAction\r\nEventTV: 2026-11-21T16:09:46.054+0000\r\n\r\n",
			want: [][][2]string{{{"Event", "RequestBadFormat"}, {"RequestType", "Action: NoSuchAction"}, {"EventTV", "2026-11-21T16:09:46.054+0000"}}},
		},
		{
			name: "empty values and no space after colon",
			in:   "Event: X\r\nPausedReason: \r\nAccountCode:\r\nKey:value\r\n\r\n",
			want: [][][2]string{{{"Event", "X"}, {"PausedReason", ""}, {"AccountCode", ""}, {"Key", "value"}}},
		},
		{
			name: "indented output keeps its spaces",
			in:   "Response: Success\r\nOutput: Channel   Location\r\nOutput:    1 active channel\r\nOutput: \r\n\r\n",
			want: [][][2]string{{{"Response", "Success"}, {"Output", "Channel   Location"}, {"Output", "   1 active channel"}, {"Output", ""}}},
		},
		{
			name: "stray blank lines between messages are skipped",
			in:   "\r\n\r\nEvent: A\r\n\r\n\r\n\nEvent: B\r\n\r\n",
			want: [][][2]string{{{"Event", "A"}}, {{"Event", "B"}}},
		},
		{
			name: "line without colon is kept with an empty key",
			in:   "Response: Follows\r\nsome raw output\r\n\r\n",
			want: [][][2]string{{{"Response", "Follows"}, {"", "some raw output"}}},
		},
		{
			name: "trailing whitespace kept",
			in:   "Event: X\r\nValue: a b  \r\n\r\n",
			want: [][][2]string{{{"Event", "X"}, {"Value", "a b  "}}},
		},
		{name: "empty stream", in: "", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(t, tt.in, Limits{})
			if err != nil {
				t.Fatalf("ReadMessage: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d messages, want %d: %v", len(got), len(tt.want), got)
			}
			for i := range got {
				g := fieldsOf(got[i])
				if len(g) != len(tt.want[i]) {
					t.Fatalf("message %d: got fields %q, want %q", i, g, tt.want[i])
				}
				for j := range g {
					if g[j] != tt.want[i][j] {
						t.Errorf("message %d field %d: got %q, want %q", i, j, g[j], tt.want[i][j])
					}
				}
			}
		})
	}
}

func TestReadMessageErrors(t *testing.T) {
	small := Limits{MaxLineBytes: 32, MaxFields: 3, MaxMessageBytes: 80}
	tests := []struct {
		name string
		in   string
		lim  Limits
		want error
	}{
		{"eof inside message", "Event: X\r\nQueue: sa", Limits{}, io.ErrUnexpectedEOF},
		{"eof after a field, before the blank line", "Event: X\r\n", Limits{}, io.ErrUnexpectedEOF},
		{"line too long", "Event: " + strings.Repeat("x", 40) + "\r\n\r\n", small, ErrMalformed},
		{"endless line", strings.Repeat("y", 1000), small, ErrMalformed},
		// Found by FuzzReadMessage: an LF-only line one byte over the limit.
		{"LF-only line one byte too long", strings.Repeat("0", 33) + "\n\n", small, ErrMalformed},
		{"line exactly at the limit is fine", strings.Repeat("0", 32) + "\n\n", small, nil},
		{"too many fields", "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", small, ErrMalformed},
		{"message too large", strings.Repeat("Abcdefgh: 0123456789abcdef\r\n", 3) + "\r\n", Limits{MaxLineBytes: 64, MaxFields: 100, MaxMessageBytes: 60}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readAll(t, tt.in, tt.lim)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("got error %v, want %v", err, tt.want)
			}
		})
	}
}

// A line longer than the bufio buffer is still read whole.
func TestReadMessageLongLineAcrossBuffer(t *testing.T) {
	long := strings.Repeat("z", 5000)
	in := "Event: VarSet\r\nValue: " + long + "\r\n\r\n"
	r := NewReader(bufio.NewReaderSize(strings.NewReader(in), 16), Limits{})
	m, err := r.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Get("Value"); got != long {
		t.Fatalf("long value: got %d bytes, want %d", len(got), len(long))
	}
}

func TestReadBanner(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr error
	}{
		{"asterisk 22", "Asterisk Call Manager/11.0.0\r\nResponse: Success\r\n\r\n", "Asterisk Call Manager/11.0.0", nil},
		{"lf only", "Asterisk Call Manager/2.10.6\n", "Asterisk Call Manager/2.10.6", nil},
		{"http server", "HTTP/1.1 400 Bad Request\r\n", "", ErrMalformed},
		{"closed at once", "", "", io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tt.in), Limits{})
			got, err := r.ReadBanner()
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Fatalf("ReadBanner = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
			if err != nil {
				return
			}
			// No blank line follows the banner: the next message starts
			// right after it.
			if m, err := r.ReadMessage(); err == nil && m.Get("Response") != "Success" {
				t.Fatalf("message after banner: %v", m)
			}
		})
	}
}

func TestMessageAccessors(t *testing.T) {
	m := NewMessage("Event", "VarSet", "ChanVariable", "A=1", "chanvariable", "B=2", "ActionID", "x-1")
	if got := m.Get("EVENT"); got != "VarSet" {
		t.Errorf("Get is case-insensitive: got %q", got)
	}
	if got := m.All("ChanVariable"); len(got) != 2 || got[0] != "A=1" || got[1] != "B=2" {
		t.Errorf("All keeps repeats in order: got %q", got)
	}
	if got := strings.Join(m.Keys(), ","); got != "Event,ChanVariable,chanvariable,ActionID" {
		t.Errorf("Keys: got %s", got)
	}
	if _, ok := m.Lookup("Missing"); ok || m.Get("Missing") != "" {
		t.Error("Lookup of a missing key")
	}
	if !m.IsEvent() || m.IsResponse() || m.Event() != "VarSet" || m.ActionID() != "x-1" {
		t.Error("IsEvent/IsResponse/Event/ActionID")
	}
	m2 := m.With("Extra", "1")
	if m.Len() != 4 || m2.Len() != 5 || m2.Get("Extra") != "1" {
		t.Error("With must copy, not modify")
	}
	// Appending to two copies of one message must not share storage.
	a, b := m.With("X", "a"), m.With("X", "b")
	if a.Get("X") != "a" || b.Get("X") != "b" {
		t.Error("With copies share storage")
	}
	if w := m.Without("chanVARIABLE"); w.Len() != 2 || len(w.All("ChanVariable")) != 0 {
		t.Errorf("Without: %v", w)
	}
	if !m.Equal(MessageFromFields(m.Fields())) || m.Equal(m2) {
		t.Error("Equal")
	}
	login := NewAction("Login", "Username", "omnicc", "Secret", "hunter2")
	if s := login.String(); strings.Contains(s, "hunter2") || !strings.Contains(s, "Username: omnicc") {
		t.Errorf("String must mask the secret: %s", s)
	}
}

func TestAppendAction(t *testing.T) {
	tests := []struct {
		name    string
		action  Message
		want    string
		wantErr bool
	}{
		{
			name:   "actionid injected after Action and caller's one replaced",
			action: NewAction("QueuePause", "ActionID", "mine", "Interface", "PJSIP/alice", "Paused", "true", "Reason", "lunch: long"),
			want:   "Action: QueuePause\r\nActionID: id-1\r\nInterface: PJSIP/alice\r\nPaused: true\r\nReason: lunch: long\r\n\r\n",
		},
		{
			name:   "repeated Variable kept",
			action: NewAction("Originate", "Channel", "PJSIP/alice", "Variable", "A=1", "Variable", "B=2"),
			want:   "Action: Originate\r\nActionID: id-1\r\nChannel: PJSIP/alice\r\nVariable: A=1\r\nVariable: B=2\r\n\r\n",
		},
		{name: "no Action", action: NewMessage("Queue", "sales"), wantErr: true},
		{name: "CRLF injection in a value", action: NewAction("QueuePause", "Reason", "x\r\nAction: Hangup"), wantErr: true},
		{name: "LF injection in a value", action: NewAction("QueuePause", "Reason", "x\nAction: Hangup"), wantErr: true},
		{name: "colon in a key", action: NewAction("QueuePause", "Re:ason", "x"), wantErr: true},
		{name: "empty key", action: NewAction("QueuePause", "", "x"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AppendAction(nil, tt.action, "id-1")
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidAction) {
					t.Fatalf("got %v, want ErrInvalidAction", err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %q, %v\nwant %q", got, err, tt.want)
			}
		})
	}
}
