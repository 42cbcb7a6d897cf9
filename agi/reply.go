package agi

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Errors a session reports; check them with errors.Is.
var (
	// ErrHangup: the channel hung up (Asterisk sent HANGUP, or our own
	// HANGUP command succeeded). Commands after it are not sent.
	ErrHangup = errors.New("agi: channel hung up")
	// ErrInvalidCommand is Asterisk's 510: it does not know the command.
	ErrInvalidCommand = errors.New("agi: 510 invalid or unknown command")
	// ErrDeadChannel is Asterisk's 511: the command is not allowed on a dead
	// channel (or in an intercept routine).
	ErrDeadChannel = errors.New("agi: 511 command not permitted on a dead channel")
	// ErrUsage is Asterisk's 520: the command's arguments are wrong.
	ErrUsage = errors.New("agi: 520 invalid command syntax")
	// ErrUnexpectedReply is any other reply code.
	ErrUnexpectedReply = errors.New("agi: unexpected reply code")
	// ErrCommandFailed is `200 result=-1`: Asterisk ran the command and it
	// failed, most often because the channel is going away.
	ErrCommandFailed = errors.New("agi: command failed (result=-1)")
	// ErrAppNotFound is EXEC's `200 result=-2`: no such dialplan application.
	ErrAppNotFound = errors.New("agi: application not found (result=-2)")

	// ErrProtocol: the peer sent something that is not FastAGI. The session
	// cannot continue because replies can no longer be paired with commands.
	ErrProtocol = errors.New("agi: protocol error")
	// ErrLineTooLong: a line exceeded Config.MaxLineBytes (a protocol error).
	ErrLineTooLong = fmt.Errorf("%w: line too long", ErrProtocol)
	// ErrBadArgument: a command or argument cannot be sent safely (a line
	// break would inject a second command; a NUL truncates it in Asterisk;
	// res_agi reads at most maxCommandBytes per command).
	ErrBadArgument = errors.New("agi: argument cannot be sent")
)

// Reply is one answer from Asterisk to one command.
type Reply struct {
	// Code is the status: 200 on success, 510, 511 or 520 on errors.
	Code int
	// Result is the text after `result=`, kept as text: GET DATA digits may
	// start with 0 or hold `*` and `#`, and may be empty on timeout.
	Result string
	// Data is the parenthesised part: `(5551234)` gives "5551234".
	Data string
	// HasData tells `200 result=1 ()` (empty data) from `200 result=0`.
	HasData bool
	// Extra holds the key=value fields after the result, e.g. endpos=2000;
	// nil when there are none.
	Extra map[string]string
	// Text is the reply as received without line terminators; for a
	// multi-line 520 block, every line joined with "\n".
	Text string
}

// Int returns Result as an integer.
func (r Reply) Int() (int, error) {
	n, err := strconv.Atoi(r.Result)
	if err != nil {
		return 0, fmt.Errorf("agi: result %q of reply %q is not an integer", r.Result, r.Text)
	}
	return n, nil
}

// CommandError is a non-200 reply to a command. errors.Is matches it against
// ErrInvalidCommand (510), ErrDeadChannel (511), ErrUsage (520) or
// ErrUnexpectedReply.
type CommandError struct {
	Command string
	Reply   Reply
}

func (e *CommandError) Error() string {
	return fmt.Sprintf("agi: command %q: %s", e.Command, firstLine(e.Reply.Text))
}

func (e *CommandError) Unwrap() error {
	switch e.Reply.Code {
	case 510:
		return ErrInvalidCommand
	case 511:
		return ErrDeadChannel
	case 520:
		return ErrUsage
	}
	return ErrUnexpectedReply
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// Replies that make up nearly all traffic (SET VARIABLE, ANSWER, EXEC)
// are returned prebuilt so the hot path allocates nothing per reply.
var commonReplies = [...]Reply{
	{Code: 200, Result: "0", Text: "200 result=0"},
	{Code: 200, Result: "1", Text: "200 result=1"},
	{Code: 200, Result: "-1", Text: "200 result=-1"},
}

// isHangupLine reports whether line is the unsolicited HANGUP notice.
func isHangupLine(line []byte) bool {
	return string(line) == "HANGUP"
}

// replyCode parses the three-digit status at the start of a reply line and
// tells whether the line opens a multi-line block (`520-`).
func replyCode(line []byte) (code int, multi bool, err error) {
	if len(line) < 3 || !isDigit(line[0]) || !isDigit(line[1]) || !isDigit(line[2]) || line[0] == '0' {
		return 0, false, fmt.Errorf("%w: reply %q does not start with a status code", ErrProtocol, clip(line))
	}
	code = int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
	if len(line) == 3 {
		return code, false, nil
	}
	switch line[3] {
	case ' ':
		return code, false, nil
	case '-':
		return code, true, nil
	}
	return 0, false, fmt.Errorf("%w: reply %q has no space after its status code", ErrProtocol, clip(line))
}

// parseReplyLine parses a single-line reply (not HANGUP, not a block).
func parseReplyLine(line []byte) (Reply, error) {
	for i := range commonReplies {
		if string(line) == commonReplies[i].Text {
			return commonReplies[i], nil
		}
	}
	code, multi, err := replyCode(line)
	if err != nil {
		return Reply{}, err
	}
	if multi {
		return Reply{}, fmt.Errorf("%w: reply %q opens a block where one line was expected", ErrProtocol, clip(line))
	}
	text := string(line)
	r := Reply{Code: code, Text: text}
	if code != 200 {
		return r, nil
	}
	rest, ok := strings.CutPrefix(text, "200 result=")
	if !ok {
		return Reply{}, fmt.Errorf("%w: 200 reply %q has no result=", ErrProtocol, clip(line))
	}
	// The result ends at the first space; `200 result= (timeout)` has an
	// empty one.
	if i := strings.IndexByte(rest, ' '); i >= 0 {
		r.Result, rest = rest[:i], rest[i+1:]
	} else {
		r.Result, rest = rest, ""
	}
	if strings.HasPrefix(rest, "(") {
		// The data runs to the last ')': a variable's value may itself hold
		// parentheses (`(a (b) c)`), while fields after the data
		// (`(timeout) endpos=9`) never do.
		if end := strings.LastIndexByte(rest, ')'); end >= 0 {
			r.Data, rest = rest[1:end], rest[end+1:]
		} else {
			r.Data, rest = rest[1:], "" // a line without ')': keep what came
		}
		r.HasData = true
	}
	for f := range strings.FieldsSeq(rest) {
		if r.Extra == nil {
			r.Extra = make(map[string]string, 1)
		}
		k, v, _ := strings.Cut(f, "=")
		r.Extra[k] = v
	}
	return r, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// clip shortens hostile input before it goes into an error or a log line.
func clip(b []byte) string {
	const max = 80
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}

// blockEnd reports whether line closes a multi-line block opened with code:
// `520 End of proper usage.` — the same code followed by a space.
func blockEnd(line []byte, code int) bool {
	c, multi, err := replyCode(line)
	return err == nil && !multi && c == code
}
