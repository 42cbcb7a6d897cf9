package agi

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// The kept seed corpora are in testdata/fuzz/<FuzzName>/, built from the
// captured traffic. Run a fuzzer with e.g.
//
//	go test -run='^$' -fuzz=FuzzParseReply -fuzztime=30s ./agi/

func FuzzParseHeader(f *testing.F) {
	f.Add([]byte(capturedHeader))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := parseTestHeader(string(data), 256, 4096)
		if err != nil {
			if req != nil {
				t.Fatalf("request returned with error %v", err)
			}
			return
		}
		if _, ok := req.Env["agi_network_script"]; !ok {
			t.Fatal("accepted a header without agi_network_script")
		}
		if strings.Contains(req.Script, "?") || strings.HasPrefix(req.Script, "/") {
			t.Fatalf("script %q keeps its query or slash", req.Script)
		}
		if len(req.Args) > maxArgs {
			t.Fatalf("%d arguments", len(req.Args))
		}
		for k, v := range req.Env {
			if !validKey(k) || strings.ContainsAny(k+v, "\n") || strings.HasSuffix(v, "\r") {
				t.Fatalf("bad entry %q: %q", k, v)
			}
		}
		if req.Extension != req.Env["agi_extension"] || req.CallerID != req.Env["agi_callerid"] {
			t.Fatal("typed fields disagree with Env")
		}
		// Parsing is deterministic and independent of the line endings.
		again, err := parseTestHeader(strings.ReplaceAll(string(data), "\r\n", "\n"), 256, 4096)
		if err == nil && (again.Script != req.Script || !reflect.DeepEqual(again.Args, req.Args) || !reflect.DeepEqual(again.Env, req.Env)) {
			t.Fatalf("CRLF and LF headers parse differently: %+v vs %+v", req, again)
		}
	})
}

func FuzzParseReply(f *testing.F) {
	f.Add([]byte("200 result=1 (5551234)\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Every line on its own.
		for line := range bytes.SplitSeq(data, []byte("\n")) {
			r, err := parseReplyLine(line)
			if err == nil && (r.Code < 100 || r.Code > 999 || r.Text != string(line)) {
				t.Fatalf("line %q parsed to %+v", line, r)
			}
			if err == nil && r.Code == 200 && !strings.HasPrefix(r.Text, "200 result="+r.Result) {
				t.Fatalf("line %q: result %q is not what follows result=", line, r.Result)
			}
		}
		// And as the reply stream of a session: whatever arrives, each
		// command gets one reply or an error, and a broken session sends
		// nothing more.
		s, fc := newTestSession(string(data))
		sent := 0
		for range 4 {
			before := len(fc.Written())
			r, err := s.Command("NOOP")
			if len(fc.Written()) > before {
				sent++
			}
			var ce *CommandError
			switch {
			case err == nil:
				if r.Code != 200 || strings.Contains(r.Text, "\n") {
					t.Fatalf("success with reply %+v", r)
				}
			case errors.As(err, &ce):
				if ce.Reply.Code == 200 {
					t.Fatalf("CommandError for a 200 reply: %+v", ce.Reply)
				}
			case errors.Is(err, ErrHangup):
				if !s.HungUp() {
					t.Fatal("ErrHangup on a live session")
				}
			default:
				if s.canTalk() {
					t.Fatalf("session still usable after %v", err)
				}
			}
		}
		if fc.Written() != strings.Repeat("NOOP\n", sent) {
			t.Fatalf("session sent %q", fc.Written())
		}
	})
}

func FuzzArgQuoting(f *testing.F) {
	for _, v := range []string{"sales", "hello world; with=chars", `a"b\c`, "", `\`, `"`, "\t"} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		s, fc := newTestSession("200 result=1\n")
		err := s.SetVariable("X", v)
		unsafe := strings.ContainsAny(v, "\n\r\x00")
		tooLong := len("SET VARIABLE X \n")+len(appendArg(nil, v)) > maxCommandBytes
		if unsafe || tooLong {
			if !errors.Is(err, ErrBadArgument) || fc.Written() != "" {
				t.Fatalf("SetVariable(%q) = %v, sent %q; want it refused", v, err, fc.Written())
			}
			return
		}
		if err != nil {
			t.Fatalf("SetVariable(%q): %v", v, err)
		}
		args := asteriskArgs(strings.TrimSuffix(fc.Written(), "\n"))
		if want := []string{"SET", "VARIABLE", "X", v}; !reflect.DeepEqual(args, want) {
			t.Fatalf("sent %q; Asterisk would read %q", fc.Written(), args)
		}
	})
}
