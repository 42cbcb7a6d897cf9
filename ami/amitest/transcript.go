package amitest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"omnicc/ami"
)

// Direction says who sent a transcript line.
type Direction int

const (
	// FromAsterisk marks bytes Asterisk sent (`AST>` in a capture).
	FromAsterisk Direction = iota + 1
	// FromApp marks bytes the manager client sent (`APP>`).
	FromApp
)

// Line is one wire line of a capture, terminator included.
type Line struct {
	Dir  Direction
	Data string
	Num  int // line number in the capture file, for failure messages
}

// Transcript is a capture of manager traffic in the format of
// shared/fixtures/asterisk/README.md: `AST> "<json string>"` and
// `APP> "<json string>"` lines, `#` annotations.
type Transcript struct {
	Name  string
	Lines []Line
}

// ReadTranscript parses a capture.
func ReadTranscript(name string, r io.Reader) (*Transcript, error) {
	t := &Transcript{Name: name}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		text := sc.Text()
		var dir Direction
		switch {
		case text == "" || strings.HasPrefix(text, "#"):
			continue
		case strings.HasPrefix(text, "AST> "):
			dir = FromAsterisk
		case strings.HasPrefix(text, "APP> "):
			dir = FromApp
		default:
			return nil, fmt.Errorf("%s:%d: line is neither AST>, APP> nor # annotation", name, n)
		}
		data, err := strconv.Unquote(text[len("AST> "):])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: bad quoted string: %w", name, n, err)
		}
		t.Lines = append(t.Lines, Line{Dir: dir, Data: data, Num: n})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return t, nil
}

// LoadTranscript reads a capture file.
func LoadTranscript(path string) (*Transcript, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadTranscript(filepath.Base(path), f)
}

// Captures kept in ami/testdata, copied from shared/fixtures/asterisk.
const (
	// QueueEvents is one Events: on connection through a whole queue
	// scenario: QueueAdd, pause/unpause, an answered call, a ring-no-answer
	// with queue timeout, an abandon, device-state changes, QueueRemove.
	QueueEvents = "ami-queue-events.txt"
	// Actions is Events: off connections: a failed login, Ping, an unknown
	// action, Command, Setvar, QueueStatus, QueueSummary, CoreShowChannels,
	// PJSIPShowEndpoints, Status, Logoff.
	Actions = "ami-actions.txt"
)

// LoadCapture loads one of the captures kept in ami/testdata (QueueEvents,
// Actions) from any package's tests, and fails the test if it cannot.
func LoadCapture(tb testing.TB, name string) *Transcript {
	tb.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("amitest: cannot locate the ami/testdata folder")
	}
	t, err := LoadTranscript(filepath.Join(filepath.Dir(file), "..", "testdata", name))
	if err != nil {
		tb.Fatalf("amitest: %v", err)
	}
	return t
}

// Bytes is everything one side sent, concatenated in order: the byte stream
// that side wrote, banners included.
func (t *Transcript) Bytes(dir Direction) []byte {
	var b bytes.Buffer
	for _, l := range t.Lines {
		if l.Dir == dir {
			b.WriteString(l.Data)
		}
	}
	return b.Bytes()
}

// Messages parses what one side sent into messages. Banners are left out: a
// capture may hold several connections and so several banners.
func (t *Transcript) Messages(dir Direction) ([]ami.Message, error) {
	var b bytes.Buffer
	for _, l := range t.Lines {
		if l.Dir == dir && !strings.HasPrefix(l.Data, Banner[:len("Asterisk Call Manager/")]) {
			b.WriteString(l.Data)
		}
	}
	r := ami.NewReader(&b, ami.Limits{})
	var out []ami.Message
	for {
		m, err := r.ReadMessage()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("%s: message %d: %w", t.Name, len(out)+1, err)
		}
		out = append(out, m)
	}
}

// Events returns the events Asterisk sent, in order: what a test pushes to
// replay a scenario to a client.
func (t *Transcript) Events() ([]ami.Message, error) {
	msgs, err := t.Messages(FromAsterisk)
	if err != nil {
		return nil, err
	}
	var out []ami.Message
	for _, m := range msgs {
		if m.IsEvent() {
			out = append(out, m)
		}
	}
	return out, nil
}

// replies maps each action the capture's client sent (by lower-cased name,
// in order) to what Asterisk answered it with: every message carrying its
// ActionID, the Response and any list items.
func (t *Transcript) replies() (map[string][][]ami.Message, error) {
	actions, err := t.Messages(FromApp)
	if err != nil {
		return nil, err
	}
	answers, err := t.Messages(FromAsterisk)
	if err != nil {
		return nil, err
	}
	byID := make(map[string][]ami.Message)
	for _, m := range answers {
		if id := m.ActionID(); id != "" {
			byID[id] = append(byID[id], m)
		}
	}
	out := make(map[string][][]ami.Message)
	for _, a := range actions {
		name := strings.ToLower(a.Get("Action"))
		if reply := byID[a.ActionID()]; len(reply) > 0 && name != "" {
			out[name] = append(out[name], reply)
		}
	}
	return out, nil
}
