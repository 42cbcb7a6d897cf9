package agi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

// capturedHeader is connection 1 of testdata/fastagi-session.txt.
const capturedHeader = "agi_network: yes\n" +
	"agi_network_script: route?queue=sales\n" +
	"agi_request: agi://127.0.0.1:4573/route?queue=sales\n" +
	"agi_channel: Local/100@route-test-00000002;2\n" +
	"agi_language: en\n" +
	"agi_type: Local\n" +
	"agi_uniqueid: 1795277170.120\n" +
	"agi_version: 22.10.1\n" +
	"agi_callerid: 5551234\n" +
	"agi_calleridname: Test Caller\n" +
	"agi_callingpres: 0\n" +
	"agi_callingani2: 0\n" +
	"agi_callington: 0\n" +
	"agi_callingtns: 0\n" +
	"agi_dnid: unknown\n" +
	"agi_rdnis: unknown\n" +
	"agi_context: route-test\n" +
	"agi_extension: 100\n" +
	"agi_priority: 4\n" +
	"agi_enhanced: 0.0\n" +
	"agi_accountcode: \n" +
	"agi_threadid: 140291969099456\n" +
	"agi_arg_1: first arg\n" +
	"agi_arg_2: second=2\n" +
	"\n"

func parseTestHeader(in string, lineCap, headerCap int) (*Request, error) {
	lr := lineReader{r: bufio.NewReaderSize(strings.NewReader(in), lineCap)}
	req, _, err := readHeader(&lr, headerCap, nil)
	return req, err
}

func TestParseCapturedHeader(t *testing.T) {
	for _, eol := range []string{"\n", "\r\n"} {
		in := strings.ReplaceAll(capturedHeader, "\n", eol)
		req, err := parseTestHeader(in, 1024, 64<<10)
		if err != nil {
			t.Fatalf("eol %q: %v", eol, err)
		}
		want := &Request{
			Script:       "route",
			Query:        url.Values{"queue": {"sales"}},
			URL:          "agi://127.0.0.1:4573/route?queue=sales",
			Channel:      "Local/100@route-test-00000002;2",
			Language:     "en",
			Type:         "Local",
			UniqueID:     "1795277170.120",
			Version:      "22.10.1",
			CallerID:     "5551234",
			CallerIDName: "Test Caller",
			CallingPres:  "0",
			CallingANI2:  "0",
			CallingTON:   "0",
			CallingTNS:   "0",
			DNID:         "unknown",
			RDNIS:        "unknown",
			Context:      "route-test",
			Extension:    "100",
			Priority:     "4",
			Enhanced:     "0.0",
			AccountCode:  "",
			ThreadID:     "140291969099456",
			Args:         []string{"first arg", "second=2"},
		}
		env := req.Env
		req.Env = nil
		if !reflect.DeepEqual(req, want) {
			t.Errorf("eol %q:\ngot  %+v\nwant %+v", eol, req, want)
		}
		if len(env) != 24 || env["agi_network"] != "yes" || env["agi_accountcode"] != "" || env["agi_arg_2"] != "second=2" {
			t.Errorf("eol %q: Env = %v", eol, env)
		}
		if req.DID() != "100" {
			t.Errorf("DID = %q, want the extension", req.DID())
		}
	}
}

func TestDID(t *testing.T) {
	tests := []struct {
		extension, dnid, want string
	}{
		{"100", "unknown", "100"},
		{"5551000", "5551000", "5551000"},
		{"s", "5551000", "5551000"}, // call arrived on the s extension
		{"s", "unknown", ""},
		{"s", "", ""},
		{"+4930123", "", "+4930123"},
	}
	for _, tt := range tests {
		r := &Request{Extension: tt.extension, DNID: tt.dnid}
		if got := r.DID(); got != tt.want {
			t.Errorf("extension %q dnid %q: DID = %q, want %q", tt.extension, tt.dnid, got, tt.want)
		}
	}
}

func TestParseHeaderVariants(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		wantScript string
		wantQuery  url.Values
		wantArgs   []string
	}{
		{"no query", "agi_network_script: inbound\n\n", "inbound", nil, nil},
		{"leading slash", "agi_network_script: /outbound\n\n", "outbound", nil, nil},
		{"double slash (found by FuzzParseHeader)", "agi_network_script: //outbound\n\n", "outbound", nil, nil},
		{"empty script", "agi_network_script: \n\n", "", nil, nil},
		{"query with several pairs", "agi_network_script: inbound?route=7&x=a%20b\n\n", "inbound", url.Values{"route": {"7"}, "x": {"a b"}}, nil},
		{"bad escape keeps the good pairs", "agi_network_script: inbound?route=7&x=%zz\n\n", "inbound", url.Values{"route": {"7"}}, nil},
		{"no space after colon", "agi_network_script:inbound\n\n", "inbound", nil, nil},
		{"empty argument", "agi_network_script: s\nagi_arg_1: \nagi_arg_2: b\n\n", "s", nil, []string{"", "b"}},
		{"arguments out of order", "agi_network_script: s\nagi_arg_2: b\nagi_arg_1: a\n\n", "s", nil, []string{"a", "b"}},
		{"unknown agi key kept", "agi_network_script: s\nagi_future_field: 1\n\n", "s", nil, nil},
		{"CRs before the line end (found by FuzzParseHeader)", "agi_network_script:0\r\r\n\n", "0", nil, nil},
		{"CRs end an argument too", "agi_network_script: s\r\nagi_arg_1: a\r\r\r\n\r\n", "s", nil, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := parseTestHeader(tt.in, 256, 4096)
			if err != nil {
				t.Fatal(err)
			}
			if req.Script != tt.wantScript || !reflect.DeepEqual(req.Query, tt.wantQuery) || !reflect.DeepEqual(req.Args, tt.wantArgs) {
				t.Errorf("got script %q query %v args %q; want %q %v %q", req.Script, req.Query, req.Args, tt.wantScript, tt.wantQuery, tt.wantArgs)
			}
		})
	}
}

func TestParseHeaderRejects(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr error
	}{
		{"no colon", "agi_network: yes\nhello world\n\n", ErrMalformedHeader},
		{"http request", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", ErrMalformedHeader},
		{"key without agi_ prefix", "Host: x\n\n", ErrMalformedHeader},
		{"bare agi_ key", "agi_: x\n\n", ErrMalformedHeader},
		{"binary", "\x00\xff\xfe:\x01\n\n", ErrMalformedHeader},
		{"missing agi_network_script", "agi_network: yes\nagi_request: agi://x/y\n\n", ErrMalformedHeader},
		{"duplicate key", "agi_network_script: a\nagi_network_script: b\n\n", ErrMalformedHeader},
		{"argument zero", "agi_network_script: a\nagi_arg_0: x\n\n", ErrMalformedHeader},
		{"argument with leading zero", "agi_network_script: a\nagi_arg_01: x\n\n", ErrMalformedHeader},
		{"argument past MAX_ARGS", "agi_network_script: a\nagi_arg_129: x\n\n", ErrMalformedHeader},
		{"argument gap", "agi_network_script: a\nagi_arg_1: x\nagi_arg_3: z\n\n", ErrMalformedHeader},
		{"argument not a number", "agi_network_script: a\nagi_arg_x: z\n\n", ErrMalformedHeader},
		{"EOF before blank line", "agi_network_script: a\n", io.ErrUnexpectedEOF},
		{"EOF mid-line", "agi_network_script: a", io.ErrUnexpectedEOF},
		{"EOF before anything", "", io.EOF},
		{"line over the cap", "agi_network_script: " + strings.Repeat("a", 300) + "\n\n", ErrLineTooLong},
		{"endless line", strings.Repeat("a", 10000), ErrLineTooLong},
		{"header over the cap", manyLines(200) + "\n", errHeaderTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := parseTestHeader(tt.in, 256, 4096)
			if tt.wantErr == errHeaderTooLong {
				if !errors.Is(err, ErrMalformedHeader) || !strings.Contains(err.Error(), "longer than 4096 bytes") {
					t.Fatalf("err = %v, want the header size error", err)
				}
			} else if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if req != nil {
				t.Errorf("got a request %+v with the error", req)
			}
		})
	}
}

// errHeaderTooLong stands for readHeader's size error, which wraps only
// ErrMalformedHeader; the test tells it from the others by its message.
var errHeaderTooLong = errors.New("longer than")

func manyLines(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "agi_key%d: 0123456789012345678901234567890123456789\n", i)
	}
	return b.String()
}

func TestRouter(t *testing.T) {
	r := NewRouter()
	var got []string
	r.HandleFunc("/inbound", func(ctx context.Context, s *Session) error {
		got = append(got, "inbound")
		return nil
	})
	r.Handle("outbound", HandlerFunc(func(ctx context.Context, s *Session) error {
		got = append(got, "outbound:"+s.Request().Query.Get("trunk"))
		return nil
	}))
	serve := func(script string, q url.Values) error {
		s, _ := newTestSession()
		s.req = &Request{Script: script, Query: q}
		return r.ServeAGI(context.Background(), s)
	}
	if err := serve("inbound", nil); err != nil {
		t.Fatal(err)
	}
	if err := serve("outbound", url.Values{"trunk": {"t1"}}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"inbound", "outbound:t1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("handlers ran %q, want %q", got, want)
	}
	err := serve("Inbound", nil) // script names are case-sensitive, like URL paths
	var pub *PublicError
	if !errors.Is(err, ErrUnknownScript) || !errors.As(err, &pub) || pub.Reason != "unknown script Inbound" {
		t.Errorf("unknown script: err = %v", err)
	}

	for name, register := range map[string]func(){
		"duplicate":   func() { r.HandleFunc("inbound", func(context.Context, *Session) error { return nil }) },
		"empty":       func() { r.HandleFunc("/", func(context.Context, *Session) error { return nil }) },
		"query":       func() { r.HandleFunc("a?b=c", func(context.Context, *Session) error { return nil }) },
		"nil handler": func() { r.Handle("x", nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s registration did not panic", name)
				}
			}()
			register()
		}()
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"zero value takes defaults", Config{}, ""},
		{"negative sessions", Config{MaxSessions: -1}, "MaxSessions"},
		{"tiny lines", Config{MaxLineBytes: 10}, "MaxLineBytes"},
		{"header below line", Config{MaxLineBytes: 4096, MaxHeaderBytes: 1024}, "MaxHeaderBytes"},
		{"negative idle", Config{IdleTimeout: -time.Second}, "IdleTimeout"},
		{"negative drain", Config{DrainTimeout: -time.Second}, "DrainTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want one naming %s", err, tt.wantErr)
			}
			if _, err := NewServer(tt.cfg, NewRouter()); err == nil {
				t.Error("NewServer accepted the bad config")
			}
		})
	}
	d := Config{}.withDefaults()
	if d.Addr != ":4573" || d.MaxSessions != 1000 || d.IdleTimeout != 10*time.Minute || d.HeaderTimeout != 5*time.Second {
		t.Errorf("defaults = %+v", d)
	}
}
