package agi

import (
	"errors"
	"testing"
)

// The four zaf/agi defects ASTERISK.md lists, each shown handled here.

func TestGetDataKeepsDigitsAsText(t *testing.T) {
	tests := []struct {
		name       string
		reply      string
		wantDigits string
		wantTimed  bool
		wantErr    error
	}{
		{"timeout with nothing entered", "200 result= (timeout)\n", "", true, nil},
		{"leading zeros", "200 result=0042\n", "0042", false, nil},
		{"a single zero", "200 result=0\n", "0", false, nil},
		{"star and hash", "200 result=*12#\n", "*12#", false, nil},
		{"hash alone", "200 result=#\n", "#", false, nil},
		{"timeout after some digits", "200 result=07 (timeout)\n", "07", true, nil},
		{"hang-up", "200 result=-1\n", "", false, ErrCommandFailed},
		{"nothing entered, ended by #", "200 result=\n", "", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, fc := newTestSession(tt.reply)
			digits, timedOut, err := s.GetData("enter-account", 5000, 4)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if digits != tt.wantDigits || timedOut != tt.wantTimed {
				t.Errorf("GetData = %q, timedOut %v; want %q, %v", digits, timedOut, tt.wantDigits, tt.wantTimed)
			}
			if got, want := fc.Written(), "GET DATA enter-account 5000 4\n"; got != want {
				t.Errorf("sent %q, want %q", got, want)
			}
		})
	}
}

// The 520 block as Asterisk 22 sent it (testdata/fastagi-session.txt).
const usageBlock = "520-Invalid command syntax.  Proper usage follows:\n" +
	"Returns <literal>0</literal> if <replaceable>variablename</replaceable> is not set. Returns <literal>1</literal> if <replaceable>variablename</replaceable> is set and returns the variable in parentheses.\n" +
	"Example return code: 200 result=1 (testvariable)\n" +
	"520 End of proper usage.\n"

func TestUsageBlockReadToItsEnd(t *testing.T) {
	// Each line arrives in its own read, and the reply to the next command
	// follows: had the block been cut short, its tail would be that reply.
	s, _ := newTestSession(
		"520-Invalid command syntax.  Proper usage follows:\n",
		"Returns <literal>0</literal> if <replaceable>variablename</replaceable> is not set. Returns <literal>1</literal> if <replaceable>variablename</replaceable> is set and returns the variable in parentheses.\n",
		"Example return code: 200 result=1 (testvariable)\n",
		"520 End of proper usage.\n",
		"200 result=1 (sales)\n",
	)
	r, err := s.Command("GET VARIABLE")
	if !errors.Is(err, ErrUsage) {
		t.Fatalf("err = %v, want ErrUsage", err)
	}
	var ce *CommandError
	if !errors.As(err, &ce) || ce.Command != "GET VARIABLE" {
		t.Errorf("error %v does not name the command", err)
	}
	if want := usageBlock[:len(usageBlock)-1]; r.Text != want || r.Code != 520 {
		t.Errorf("reply = %d %q, want 520 %q", r.Code, r.Text, want)
	}
	v, ok, err := s.GetVariable("XROUTE")
	if err != nil || !ok || v != "sales" {
		t.Errorf("next command got %q, %v, %v; want the reply meant for it", v, ok, err)
	}
}

func TestHangupNoticeNeverTakenForAReply(t *testing.T) {
	tests := []struct {
		name   string
		chunks []string
		// What the first command returns.
		wantResult string
		wantData   string
		wantErr    error
		// Whether the session knows of the hang-up right after it.
		wantHungUp bool
	}{
		{
			name:       "notice before the reply",
			chunks:     []string{"HANGUP\n200 result=1 ()\n"},
			wantResult: "1", wantHungUp: true,
		},
		{
			name:       "notice after the reply, same read (captured order)",
			chunks:     []string{"200 result=-1\nHANGUP\n"},
			wantResult: "-1", wantHungUp: true,
		},
		{
			name:       "notice before the reply, separate reads",
			chunks:     []string{"HANGUP\n", "511 Command Not Permitted on a dead channel or intercept routine\n"},
			wantErr:    ErrDeadChannel,
			wantHungUp: true,
		},
		{
			name:       "notice with CRLF",
			chunks:     []string{"200 result=1 (5551234)\nHANGUP\r\n"},
			wantResult: "1", wantData: "5551234", wantHungUp: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, fc := newTestSession(tt.chunks...)
			r, err := s.Command("GET VARIABLE CALLERID(num)")
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && (r.Result != tt.wantResult || r.Data != tt.wantData) {
				t.Errorf("reply = %+v, want result %q data %q", r, tt.wantResult, tt.wantData)
			}
			if s.HungUp() != tt.wantHungUp {
				t.Errorf("HungUp = %v, want %v", s.HungUp(), tt.wantHungUp)
			}
			sent := fc.Written()
			if err := s.SetVariable("X", "y"); !errors.Is(err, ErrHangup) {
				t.Errorf("command after hang-up: err = %v, want ErrHangup", err)
			}
			if fc.Written() != sent {
				t.Errorf("a command was sent after the hang-up: %q", fc.Written()[len(sent):])
			}
		})
	}
}

func TestHangupNoticeArrivingLater(t *testing.T) {
	// The notice arrives after the first reply was read and is found while
	// reading the second command's reply: each command still gets its own.
	s, fc := newTestSession("200 result=0\n", "HANGUP\n", "200 result=1 ()\n")
	if err := s.Answer(); err != nil {
		t.Fatal(err)
	}
	if s.HungUp() {
		t.Fatal("HungUp before any notice arrived")
	}
	v, ok, err := s.GetVariable("CALLERID(num)")
	if err != nil || !ok || v != "" {
		t.Fatalf("GetVariable = %q, %v, %v; want its own reply `200 result=1 ()`", v, ok, err)
	}
	if !s.HungUp() {
		t.Error("HungUp = false after the notice")
	}
	if _, err := s.Command("CHANNEL STATUS"); !errors.Is(err, ErrHangup) {
		t.Errorf("err = %v, want ErrHangup", err)
	}
	if want := "ANSWER\nGET VARIABLE CALLERID(num)\n"; fc.Written() != want {
		t.Errorf("sent %q, want %q", fc.Written(), want)
	}
}
