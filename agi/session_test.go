package agi

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// asteriskArgs splits a command line the way res_agi's parse_args does, as
// documented in ASTERISK.md's notes: unquoted spaces and tabs separate
// arguments, `"` toggles quoting, a backslash is dropped and the byte after
// it kept literally, and an opening quote after whitespace starts an
// argument even when it stays empty.
func asteriskArgs(line string) []string {
	var (
		args                []string
		cur                 []byte
		quoted, escaped, in bool
	)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '"' && !escaped:
			quoted = !quoted
			in = true
		case (c == ' ' || c == '\t') && !quoted && !escaped:
			if in {
				args = append(args, string(cur))
				cur, in = cur[:0], false
			}
		case c == '\\' && !escaped:
			escaped = true
			continue
		default:
			cur = append(cur, c)
			in = true
		}
		escaped = false
	}
	if in {
		args = append(args, string(cur))
	}
	return args
}

func TestSetVariableQuoting(t *testing.T) {
	tests := []struct {
		name, value string
		wantLine    string
	}{
		{"XROUTE", "sales", `SET VARIABLE XROUTE sales`}, // as captured
		{"XNOTE", "hello world; with=chars", `SET VARIABLE XNOTE "hello world; with=chars"`},
		{"OMNICC_CONTACT_NAME", `Ann "Nan" O'Neil`, `SET VARIABLE OMNICC_CONTACT_NAME "Ann \"Nan\" O'Neil"`},
		{"PATH", `C:\calls\`, `SET VARIABLE PATH "C:\\calls\\"`},
		{"EMPTY", "", `SET VARIABLE EMPTY ""`},
		{"TAB", "a\tb", "SET VARIABLE TAB \"a\tb\""},
		{"SEMI", "a;b=c,d|e", `SET VARIABLE SEMI a;b=c,d|e`},
		{"DIAL", "PJSIP/alice&PJSIP/bob,30,tT", `SET VARIABLE DIAL PJSIP/alice&PJSIP/bob,30,tT`},
		{"SUBST", "${EVIL} $[1+1]", `SET VARIABLE SUBST "${EVIL} $[1+1]"`},
		{"UTF8", "José Müller", `SET VARIABLE UTF8 "José Müller"`},
		{"QUOTE", `"`, `SET VARIABLE QUOTE "\""`},
		{"__INHERIT", "x", `SET VARIABLE __INHERIT x`},
		{"CALLERID(name)", "Sales Desk", `SET VARIABLE CALLERID(name) "Sales Desk"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, fc := newTestSession("200 result=1\n")
			if err := s.SetVariable(tt.name, tt.value); err != nil {
				t.Fatal(err)
			}
			got := fc.Written()
			if got != tt.wantLine+"\n" {
				t.Errorf("sent %q, want %q", got, tt.wantLine+"\n")
			}
			// What Asterisk will store: parse the line as res_agi does.
			args := asteriskArgs(strings.TrimSuffix(got, "\n"))
			if want := []string{"SET", "VARIABLE", tt.name, tt.value}; !reflect.DeepEqual(args, want) {
				t.Errorf("Asterisk would read %q, want %q", args, want)
			}
		})
	}
}

func TestCommandsAsCaptured(t *testing.T) {
	// The bytes our helpers send match what Asterisk 22 was sent in
	// testdata/fastagi-session.txt.
	tests := []struct {
		name  string
		call  func(s *Session) error
		reply string
		want  string
	}{
		{"GetVariable", func(s *Session) error { _, _, err := s.GetVariable("CALLERID(num)"); return err },
			"200 result=1 (5551234)\n", "GET VARIABLE CALLERID(num)\n"},
		{"GetFullVariable", func(s *Session) error {
			_, _, err := s.GetFullVariable("${CALLERID(name)} <${CALLERID(num)}>")
			return err
		}, "200 result=1 (Test Caller <5551234>)\n", "GET FULL VARIABLE \"${CALLERID(name)} <${CALLERID(num)}>\"\n"},
		{"Answer", func(s *Session) error { return s.Answer() }, "200 result=0\n", "ANSWER\n"},
		{"Verbose", func(s *Session) error { return s.Verbose("FastAGI route script running", 1) },
			"200 result=1\n", "VERBOSE \"FastAGI route script running\" 1\n"},
		{"Exec", func(s *Session) error { _, err := s.Exec("Playback", "beep"); return err },
			"200 result=0\n", "EXEC Playback beep\n"},
		{"StreamFile", func(s *Session) error { _, err := s.StreamFile("beep", "#"); return err },
			"200 result=0 endpos=2000\n", "STREAM FILE beep \"#\"\n"},
		{"StreamFile no escape", func(s *Session) error { _, err := s.StreamFile("beep", ""); return err },
			"200 result=0 endpos=2000\n", "STREAM FILE beep \"\"\n"},
		{"Hangup", func(s *Session) error { return s.Hangup() }, "200 result=1\nHANGUP\n", "HANGUP\n"},
		{"Exec with spaces", func(s *Session) error { _, err := s.Exec("Dial", "PJSIP/alice,30,M(screen^a b)"); return err },
			"200 result=0\n", "EXEC Dial \"PJSIP/alice,30,M(screen^a b)\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, fc := newTestSession(tt.reply)
			if err := tt.call(s); err != nil {
				t.Fatal(err)
			}
			if got := fc.Written(); got != tt.want {
				t.Errorf("sent %q, want %q", got, tt.want)
			}
		})
	}
}

func TestHelperResults(t *testing.T) {
	t.Run("GetVariable unset", func(t *testing.T) {
		s, _ := newTestSession("200 result=0\n")
		v, ok, err := s.GetVariable("NOSUCHVAR")
		if err != nil || ok || v != "" {
			t.Errorf("= %q, %v, %v; want unset", v, ok, err)
		}
	})
	t.Run("GetVariable set and empty", func(t *testing.T) {
		s, _ := newTestSession("200 result=1 ()\n")
		v, ok, err := s.GetVariable("EMPTY")
		if err != nil || !ok || v != "" {
			t.Errorf("= %q, %v, %v; want set to empty", v, ok, err)
		}
	})
	t.Run("GetVariable value with parentheses", func(t *testing.T) {
		s, _ := newTestSession("200 result=1 (Sales (EMEA) line)\n")
		v, _, _ := s.GetVariable("NAME")
		if v != "Sales (EMEA) line" {
			t.Errorf("= %q", v)
		}
	})
	t.Run("StreamFile digit", func(t *testing.T) {
		s, _ := newTestSession("200 result=35 endpos=1200\n")
		d, err := s.StreamFile("menu", "#*")
		if err != nil || d != "#" {
			t.Errorf("= %q, %v; want #", d, err)
		}
	})
	t.Run("StreamFile failure", func(t *testing.T) {
		s, _ := newTestSession("200 result=-1 endpos=0\n")
		if _, err := s.StreamFile("missing", ""); !errors.Is(err, ErrCommandFailed) {
			t.Errorf("err = %v, want ErrCommandFailed", err)
		}
	})
	t.Run("Exec unknown application", func(t *testing.T) {
		s, _ := newTestSession("200 result=-2\n")
		if _, err := s.Exec("NoSuchApp", ""); !errors.Is(err, ErrAppNotFound) {
			t.Errorf("err = %v, want ErrAppNotFound", err)
		}
	})
	t.Run("Answer failure", func(t *testing.T) {
		s, _ := newTestSession("200 result=-1\n")
		if err := s.Answer(); !errors.Is(err, ErrCommandFailed) {
			t.Errorf("err = %v, want ErrCommandFailed", err)
		}
	})
	t.Run("Hangup marks the session", func(t *testing.T) {
		s, fc := newTestSession("200 result=1\n")
		if err := s.Hangup(); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.GetVariable("X"); !errors.Is(err, ErrHangup) {
			t.Errorf("err = %v, want ErrHangup", err)
		}
		if fc.Written() != "HANGUP\n" {
			t.Errorf("sent %q", fc.Written())
		}
	})
	t.Run("511 marks the session", func(t *testing.T) {
		s, _ := newTestSession("511 Command Not Permitted on a dead channel or intercept routine\n")
		_, err := s.Command("CHANNEL STATUS")
		if !errors.Is(err, ErrDeadChannel) || !s.HungUp() {
			t.Errorf("err = %v, HungUp %v; want ErrDeadChannel and hung up", err, s.HungUp())
		}
	})
	t.Run("510", func(t *testing.T) {
		s, _ := newTestSession("510 Invalid or unknown command\n", "200 result=0\n")
		_, err := s.Command("NOSUCH COMMAND here")
		if !errors.Is(err, ErrInvalidCommand) {
			t.Errorf("err = %v, want ErrInvalidCommand", err)
		}
		if err := s.Answer(); err != nil {
			t.Errorf("session unusable after a 510: %v", err)
		}
	})
}

func TestRefusedArguments(t *testing.T) {
	tests := []struct {
		name string
		call func(s *Session) error
	}{
		{"newline in value (command injection)", func(s *Session) error {
			return s.SetVariable("OMNICC_CONTACT_NAME", "x\nEXEC System rm")
		}},
		{"carriage return", func(s *Session) error { return s.SetVariable("X", "a\rb") }},
		{"NUL", func(s *Session) error { return s.SetVariable("X", "a\x00b") }},
		{"empty name", func(s *Session) error { return s.SetVariable("", "v") }},
		{"newline in raw command", func(s *Session) error { _, err := s.Command("ANSWER\nHANGUP"); return err }},
		{"empty raw command", func(s *Session) error { _, err := s.Command(""); return err }},
		{"over res_agi's line buffer", func(s *Session) error {
			return s.SetVariable("X", strings.Repeat("a", maxCommandBytes))
		}},
		{"negative GET DATA timeout", func(s *Session) error { _, _, err := s.GetData("f", -1, 1); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, fc := newTestSession("200 result=1\n", "200 result=0\n")
			if err := tt.call(s); !errors.Is(err, ErrBadArgument) {
				t.Fatalf("err = %v, want ErrBadArgument", err)
			}
			if fc.Written() != "" {
				t.Fatalf("sent %q despite the refusal", fc.Written())
			}
			// A refused argument leaves the session usable.
			if err := s.SetVariable("OK", "1"); err != nil {
				t.Errorf("session unusable after a refused argument: %v", err)
			}
		})
	}
	t.Run("longest line res_agi reads whole", func(t *testing.T) {
		s, fc := newTestSession("200 result=1\n")
		v := strings.Repeat("a", maxCommandBytes-len("SET VARIABLE X \n"))
		if err := s.SetVariable("X", v); err != nil {
			t.Fatal(err)
		}
		if len(fc.Written()) != maxCommandBytes {
			t.Errorf("sent %d bytes", len(fc.Written()))
		}
	})
}

func TestBrokenSessionStaysBroken(t *testing.T) {
	tests := []struct {
		name    string
		chunks  []string
		wantErr error
	}{
		{"garbage reply", []string{"hello there\n"}, ErrProtocol},
		{"reply line over the cap", []string{"200 result=1 (" + strings.Repeat("x", 600) + ")\n"}, ErrLineTooLong},
		{"200 without result", []string{"200 ok\n"}, ErrProtocol},
		{"block never ends", []string{"520-usage\n", strings.Repeat("usage line\n", 500)}, ErrProtocol},
		{"peer closed", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, fc := newTestSession(tt.chunks...)
			_, err := s.Command("ANSWER")
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			sent := fc.Written()
			if _, err2 := s.Command("ANSWER"); err2 == nil || err2.Error() != err.Error() {
				t.Errorf("second command: err = %v, want the first error again", err2)
			}
			if fc.Written() != sent {
				t.Error("a command was sent on a broken session")
			}
			if s.canTalk() {
				t.Error("canTalk on a broken session")
			}
		})
	}
}

func TestParseReplyLine(t *testing.T) {
	tests := []struct {
		line    string
		want    Reply
		wantErr error
	}{
		// Lines captured from Asterisk 22.
		{line: "200 result=1 (5551234)", want: Reply{Code: 200, Result: "1", Data: "5551234", HasData: true}},
		{line: "200 result=0", want: Reply{Code: 200, Result: "0"}},
		{line: "200 result=1 (Test Caller <5551234>)", want: Reply{Code: 200, Result: "1", Data: "Test Caller <5551234>", HasData: true}},
		{line: "200 result=4", want: Reply{Code: 200, Result: "4"}},
		{line: "200 result=0 endpos=2000", want: Reply{Code: 200, Result: "0", Extra: map[string]string{"endpos": "2000"}}},
		{line: "200 result=-1", want: Reply{Code: 200, Result: "-1"}},
		{line: "200 result=1 ()", want: Reply{Code: 200, Result: "1", HasData: true}},
		{line: "510 Invalid or unknown command", want: Reply{Code: 510}},
		{line: "511 Command Not Permitted on a dead channel or intercept routine", want: Reply{Code: 511}},
		// Shapes res_agi documents.
		{line: "200 result= (timeout)", want: Reply{Code: 200, Data: "timeout", HasData: true}},
		{line: "200 result=0 (timeout) endpos=12345", want: Reply{Code: 200, Result: "0", Data: "timeout", HasData: true, Extra: map[string]string{"endpos": "12345"}}},
		{line: "200 result=1 (a (b) c)", want: Reply{Code: 200, Result: "1", Data: "a (b) c", HasData: true}},
		{line: "200 result=1 (unclosed", want: Reply{Code: 200, Result: "1", Data: "unclosed", HasData: true}},
		{line: "200 result=", want: Reply{Code: 200}},
		// Not FastAGI.
		{line: "hello", wantErr: ErrProtocol},
		{line: "20", wantErr: ErrProtocol},
		{line: "2000 x", wantErr: ErrProtocol},
		{line: "200", wantErr: ErrProtocol},
		{line: "200 ok", wantErr: ErrProtocol},
		{line: "099 x", wantErr: ErrProtocol},
		{line: "520-start", wantErr: ErrProtocol}, // a block where one line was expected
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			got, err := parseReplyLine([]byte(tt.line))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			tt.want.Text = tt.line
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestReplyInt(t *testing.T) {
	if n, err := (Reply{Result: "-1"}).Int(); n != -1 || err != nil {
		t.Errorf("Int = %d, %v", n, err)
	}
	if _, err := (Reply{Result: "", Text: "200 result= (timeout)"}).Int(); err == nil {
		t.Error("Int of an empty result succeeded")
	}
}

func TestHotPathAllocations(t *testing.T) {
	// SET VARIABLE answered `200 result=1` is most of the traffic; it must
	// not allocate.
	s, fc := newTestSession()
	reply := []string{"200 result=1\n"}
	allocs := testing.AllocsPerRun(100, func() {
		fc.chunks = reply
		fc.written.Reset()
		if err := s.SetVariable("OMNICC_DEST", "sales queue"); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Errorf("SetVariable allocates %.1f times per call", allocs)
	}
}
