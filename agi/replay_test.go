package agi

import (
	"bufio"
	"context"
	"errors"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// wireLine is one line of a capture: bytes Asterisk sent (AST>) or bytes
// the FastAGI side sent (APP>).
type wireLine struct {
	fromAsterisk bool
	data         string
}

// capturedConn is one FastAGI connection of a capture.
type capturedConn struct {
	header string // the AST> lines up to and including the blank line
	after  []wireLine
}

// loadCapture parses the capture format of shared/fixtures/asterisk/README.md:
// `AST> "<json string>"`, `APP> "<json string>"`, `#` annotations, and
// `# === connection N ===` starting each connection.
func loadCapture(t *testing.T, path string) []capturedConn {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var conns []capturedConn
	inHeader := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "# === connection ") {
			conns = append(conns, capturedConn{})
			inHeader = true
			continue
		}
		marker, quoted, ok := strings.Cut(line, " ")
		if !ok || (marker != "AST>" && marker != "APP>") {
			continue // annotation
		}
		data, err := strconv.Unquote(quoted)
		if err != nil {
			t.Fatalf("%s:%d: %v", path, n, err)
		}
		if len(conns) == 0 {
			t.Fatalf("%s:%d: wire line before any connection", path, n)
		}
		c := &conns[len(conns)-1]
		switch {
		case inHeader && marker == "AST>":
			c.header += data
			inHeader = data != "\n"
		case inHeader:
			t.Fatalf("%s:%d: APP> line inside the header", path, n)
		default:
			c.after = append(c.after, wireLine{fromAsterisk: marker == "AST>", data: data})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return conns
}

// replay plays Asterisk's side of a captured connection against the server:
// it sends what Asterisk sent and checks that the server sends what the
// capture tool sent. Once Asterisk has sent HANGUP the server may close at
// any point (our session refuses commands on a hung-up channel, where the
// capture tool went on probing); before that every byte must match.
func replay(t *testing.T, addr string, c capturedConn) {
	t.Helper()
	p := dialPeer(t, addr)
	p.send(c.header)
	hungUp := false
	for i := 0; i < len(c.after); {
		if c.after[i].fromAsterisk {
			// Consecutive Asterisk lines go out in one write, as a reply and
			// the HANGUP after it usually do.
			var chunk strings.Builder
			for ; i < len(c.after) && c.after[i].fromAsterisk; i++ {
				chunk.WriteString(c.after[i].data)
				hungUp = hungUp || c.after[i].data == "HANGUP\n"
			}
			p.send(chunk.String())
			continue
		}
		want := c.after[i].data
		i++
		got, err := p.readLine()
		if hungUp && got == "" && isClosed(err) {
			return
		}
		if err != nil || got != want {
			t.Fatalf("server sent %q (%v), capture has %q", got, err, want)
		}
	}
	p.expectClosed()
}

// captureHandlers do what the capture tool did in each captured session,
// checking the values Asterisk returned.
func captureHandlers(t *testing.T) *Router {
	r := NewRouter()
	check := func(what string, got, want any) {
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", what, got, want)
		}
	}
	r.HandleFunc("route", func(ctx context.Context, s *Session) error {
		req := s.Request()
		check("Query", req.Query.Get("queue"), "sales")
		check("Args", req.Args, []string{"first arg", "second=2"})
		check("DID", req.DID(), "100")
		check("CallerIDName", req.CallerIDName, "Test Caller")

		v, ok, err := s.GetVariable("CALLERID(num)")
		check("CALLERID(num)", []any{v, ok, err}, []any{"5551234", true, nil})
		_, ok, err = s.GetVariable("NOSUCHVAR")
		check("NOSUCHVAR set", []any{ok, err}, []any{false, nil})
		v, _, _ = s.GetFullVariable("${CALLERID(name)} <${CALLERID(num)}>")
		check("full variable", v, "Test Caller <5551234>")
		check("SET XROUTE", s.SetVariable("XROUTE", "sales"), nil)
		check("SET XNOTE", s.SetVariable("XNOTE", "hello world; with=chars"), nil)
		r, _ := s.Command("CHANNEL STATUS")
		check("CHANNEL STATUS", r.Result, "4")
		check("ANSWER", s.Answer(), nil)
		check("VERBOSE", s.Verbose("FastAGI route script running", 1), nil)
		_, err = s.Exec("Playback", "beep")
		check("EXEC Playback beep", err, nil)
		r, err = s.Exec("Playback", "nosuchfile")
		check("EXEC Playback nosuchfile", []any{r.Result, err}, []any{"0", nil})
		d, err := s.StreamFile("beep", "#")
		check("STREAM FILE", []any{d, err}, []any{"", nil})
		_, err = s.Command("DATABASE PUT xroute lastqueue sales")
		check("DATABASE PUT", err, nil)
		r, _ = s.Command("DATABASE GET xroute lastqueue")
		check("DATABASE GET", r.Data, "sales")
		r, _ = s.Command("DATABASE GET xroute nosuchkey")
		check("DATABASE GET missing", []any{r.Result, r.HasData}, []any{"0", false})
		_, err = s.Command("NOSUCH COMMAND here")
		check("510 is ErrInvalidCommand", errors.Is(err, ErrInvalidCommand), true)
		r, err = s.Command("GET VARIABLE")
		check("520 is ErrUsage", errors.Is(err, ErrUsage), true)
		check("520 lines", strings.Count(r.Text, "\n")+1, 4)
		_, err = s.Command("SET PRIORITY 1 2 3 4")
		check("second 520", errors.Is(err, ErrUsage), true)
		for _, cmd := range []string{"SET CONTEXT route-after", "SET EXTENSION s", "SET PRIORITY 1"} {
			r, err = s.Command(cmd)
			check(cmd, []any{r.Result, err}, []any{"0", nil})
		}
		return nil
	})
	r.HandleFunc("hangupmid", func(ctx context.Context, s *Session) error {
		check("ANSWER", s.Answer(), nil)
		r, err := s.Command("WAIT FOR DIGIT 15000")
		check("WAIT FOR DIGIT", []any{r.Result, err}, []any{"-1", nil})
		// Depending on whether HANGUP came in the same read as the reply,
		// this is refused outright or answered as the capture shows.
		if _, _, err := s.GetVariable("CALLERID(num)"); err != nil && !errors.Is(err, ErrHangup) {
			t.Errorf("GetVariable after hang-up: %v", err)
		}
		check("HungUp", s.HungUp(), true)
		_, err = s.Command("CHANNEL STATUS")
		check("command after HANGUP", errors.Is(err, ErrHangup), true)
		return nil
	})
	r.HandleFunc("hangupcmd", func(ctx context.Context, s *Session) error {
		check("ANSWER", s.Answer(), nil)
		check("HANGUP", s.Hangup(), nil)
		_, _, err := s.GetVariable("CALLERID(num)")
		check("command after our HANGUP", errors.Is(err, ErrHangup), true)
		return nil
	})
	r.HandleFunc("silent", func(ctx context.Context, s *Session) error { return nil })
	r.HandleFunc("peerclose", func(ctx context.Context, s *Session) error {
		check("ANSWER", s.Answer(), nil)
		return nil
	})
	return r
}

func TestReplayCapturedSessions(t *testing.T) {
	conns := loadCapture(t, "testdata/fastagi-session.txt")
	if len(conns) != 5 {
		t.Fatalf("capture has %d connections, want 5", len(conns))
	}
	ts := startServer(t, Config{}, captureHandlers(t))
	for _, c := range conns {
		req, err := parseTestHeader(c.header, 1024, 64<<10)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(req.Script, func(t *testing.T) {
			replay(t, ts.addr, c)
		})
	}
	// No session may have ended with OMNICC_ERROR or a warning.
	ts.stop(t)
	if logs := ts.logs.String(); strings.Contains(logs, "level=WARN") || strings.Contains(logs, "level=ERROR") {
		t.Errorf("warnings while replaying captured sessions:\n%s", logs)
	}
}
