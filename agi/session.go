package agi

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
)

// maxCommandBytes is the longest command line res_agi reads whole, "\n"
// included: it reads commands with fgets into a 2048-byte buffer
// (AGI_BUF_LEN), so a longer line is cut and its tail runs as a second
// command, pairing every later reply with the wrong command.
const maxCommandBytes = 2047

// Session is one FastAGI connection: the header Asterisk sent and the
// commands a handler sends back. A Session is used by one goroutine, the
// handler's, and must not be kept after ServeAGI returns.
//
// Asterisk's unsolicited HANGUP line is absorbed wherever it arrives (before
// or after the reply to the command in flight): that command still gets its
// own reply, the session is marked hung up, and later commands fail with
// ErrHangup without being sent. The notice is seen when the session reads
// from the peer, so a handler busy elsewhere (a database lookup) learns of
// the hang-up at its next command. The server closes the socket when the
// handler returns, since Asterisk never does.
type Session struct {
	req    *Request
	conn   net.Conn
	cr     connReader
	lr     lineReader
	idle   time.Duration
	logger *slog.Logger
	log    *slog.Logger // logger with the call's attributes, made on first use

	buf      *sessionBuffers // pooled; nil once the session is released
	wbuf     []byte          // the command being sent
	block    []byte          // a multi-line reply being read
	maxBlock int

	writeDeadline time.Time // the write deadline in force

	hungUp   bool  // HANGUP seen, our HANGUP succeeded, or a 511
	inFlight bool  // a command was written and its reply not read
	err      error // transport or protocol failure; the session is unusable
}

// connReader restarts the idle deadline before every read from the peer, so
// the deadline measures silence, not command length.
type connReader struct {
	conn net.Conn
	idle time.Duration // 0 while the fixed header deadline applies
	// armed: the command just sent set the deadline a moment ago, so the
	// first read of its reply need not set it again (one timer update per
	// command instead of two, on the path of every call).
	armed bool
}

func (c *connReader) Read(p []byte) (int, error) {
	if c.idle > 0 && !c.armed {
		if err := c.conn.SetReadDeadline(time.Now().Add(c.idle)); err != nil {
			return 0, err
		}
	}
	c.armed = false
	return c.conn.Read(p)
}

// Request returns the header Asterisk sent.
func (s *Session) Request() *Request { return s.req }

// RemoteAddr is the Asterisk box's address.
func (s *Session) RemoteAddr() net.Addr { return s.conn.RemoteAddr() }

// HungUp reports whether the channel is known to be hung up.
func (s *Session) HungUp() bool { return s.hungUp }

// Logger returns the server's logger with this call's script, uniqueid and
// channel attached.
func (s *Session) Logger() *slog.Logger {
	if s.log == nil {
		s.log = s.logger.With(s.attrs()...)
	}
	return s.log
}

func (s *Session) attrs() []any {
	a := []any{slog.String("remote", s.conn.RemoteAddr().String())}
	if s.req != nil {
		a = append(a,
			slog.String("script", s.req.Script),
			slog.String("uniqueid", s.req.UniqueID),
			slog.String("channel", s.req.Channel))
	}
	return a
}

// canTalk reports whether one more command can be sent and its reply read
// in step: not after a hang-up, a broken connection, or a command whose
// reply was never read (a panic in the middle of one).
func (s *Session) canTalk() bool {
	return s.err == nil && !s.hungUp && !s.inFlight
}

func (s *Session) ready() error {
	if s.hungUp {
		return ErrHangup
	}
	if s.err != nil {
		return s.err
	}
	if s.inFlight {
		return fmt.Errorf("%w: a command's reply was never read", ErrProtocol)
	}
	return nil
}

// Command sends one raw command line (without its "\n") and returns
// Asterisk's reply. Replies 510, 511 and 520 come back with a *CommandError
// matching ErrInvalidCommand, ErrDeadChannel or ErrUsage.
func (s *Session) Command(cmd string) (Reply, error) {
	if err := s.ready(); err != nil {
		return Reply{}, err
	}
	if err := checkName(cmd); err != nil {
		return Reply{}, err
	}
	s.wbuf = append(append(s.wbuf[:0], cmd...), '\n')
	return s.roundTrip()
}

// SetVariable sets a channel variable. The value may hold spaces, quotes,
// semicolons or backslashes: it is quoted and escaped the way res_agi
// parses arguments, so Asterisk stores exactly value.
func (s *Session) SetVariable(name, value string) error {
	if err := s.ready(); err != nil {
		return err
	}
	if err := checkName(name); err != nil {
		return err
	}
	if err := checkArg(name, value); err != nil {
		return err
	}
	s.wbuf = append(s.wbuf[:0], "SET VARIABLE "...)
	s.wbuf = appendArg(s.wbuf, name)
	s.wbuf = append(s.wbuf, ' ')
	s.wbuf = appendArg(s.wbuf, value)
	s.wbuf = append(s.wbuf, '\n')
	_, err := s.roundTrip()
	return err
}

// GetVariable reads a channel variable or function, e.g. CALLERID(num).
// ok is false when it is not set.
func (s *Session) GetVariable(name string) (value string, ok bool, err error) {
	return s.getVariable("GET VARIABLE ", name)
}

// GetFullVariable evaluates an expression with Asterisk's variable
// substitution, e.g. "${CALLERID(name)} <${CALLERID(num)}>".
func (s *Session) GetFullVariable(expr string) (value string, ok bool, err error) {
	return s.getVariable("GET FULL VARIABLE ", expr)
}

func (s *Session) getVariable(verb, name string) (string, bool, error) {
	if err := s.ready(); err != nil {
		return "", false, err
	}
	if err := checkName(name); err != nil {
		return "", false, err
	}
	s.wbuf = append(s.wbuf[:0], verb...)
	s.wbuf = appendArg(s.wbuf, name)
	s.wbuf = append(s.wbuf, '\n')
	r, err := s.roundTrip()
	if err != nil {
		return "", false, err
	}
	// `200 result=0` is "not set"; `200 result=1 (value)` is set, possibly
	// to "" (`()`).
	if r.Result != "1" {
		return "", false, nil
	}
	return r.Data, true, nil
}

// Answer answers the channel.
func (s *Session) Answer() error {
	_, err := s.simple("ANSWER")
	return err
}

// Hangup hangs the channel up. Asterisk answers and then sends HANGUP; the
// session counts as hung up from here on.
func (s *Session) Hangup() error {
	_, err := s.simple("HANGUP")
	if err == nil {
		s.hungUp = true
	}
	return err
}

// simple sends a command without arguments whose result -1 means failure.
func (s *Session) simple(cmd string) (Reply, error) {
	r, err := s.Command(cmd)
	if err != nil {
		return r, err
	}
	if r.Result == "-1" {
		return r, fmt.Errorf("%s: %w", cmd, ErrCommandFailed)
	}
	return r, nil
}

// Verbose logs msg in Asterisk's verbose log at level 1–4.
func (s *Session) Verbose(msg string, level int) error {
	if err := s.ready(); err != nil {
		return err
	}
	if err := checkArg("verbose message", msg); err != nil {
		return err
	}
	s.wbuf = append(s.wbuf[:0], "VERBOSE "...)
	s.wbuf = appendArg(s.wbuf, msg)
	s.wbuf = append(s.wbuf, ' ')
	s.wbuf = strconv.AppendInt(s.wbuf, int64(level), 10)
	s.wbuf = append(s.wbuf, '\n')
	_, err := s.roundTrip()
	return err
}

// Exec runs a dialplan application, e.g. Exec("Dial", "PJSIP/alice,30").
// args is sent as one argument (res_agi passes only one to the
// application), quoted when needed. The reply's Result is the
// application's return value.
func (s *Session) Exec(app, args string) (Reply, error) {
	if err := s.ready(); err != nil {
		return Reply{}, err
	}
	if err := checkName(app); err != nil {
		return Reply{}, err
	}
	if err := checkArg("EXEC arguments", args); err != nil {
		return Reply{}, err
	}
	s.wbuf = append(s.wbuf[:0], "EXEC "...)
	s.wbuf = appendArg(s.wbuf, app)
	if args != "" {
		s.wbuf = append(s.wbuf, ' ')
		s.wbuf = appendArg(s.wbuf, args)
	}
	s.wbuf = append(s.wbuf, '\n')
	r, err := s.roundTrip()
	if err == nil && r.Result == "-2" {
		err = fmt.Errorf("EXEC %s: %w", app, ErrAppNotFound)
	}
	return r, err
}

// StreamFile plays file (no extension), letting the caller interrupt it
// with one of escapeDigits. digit is the key pressed, "" when none was.
func (s *Session) StreamFile(file, escapeDigits string) (digit string, err error) {
	if err := s.ready(); err != nil {
		return "", err
	}
	if err := checkArg("file", file); err != nil {
		return "", err
	}
	if err := checkArg("escape digits", escapeDigits); err != nil {
		return "", err
	}
	s.wbuf = append(s.wbuf[:0], "STREAM FILE "...)
	s.wbuf = appendArg(s.wbuf, file)
	s.wbuf = append(s.wbuf, ' ')
	// Always quoted, even empty: an empty bare argument would vanish.
	s.wbuf = appendQuoted(s.wbuf, escapeDigits)
	s.wbuf = append(s.wbuf, '\n')
	r, err := s.roundTrip()
	if err != nil {
		return "", err
	}
	return digitResult("STREAM FILE", r)
}

// digitResult decodes a result that is the ASCII code of a key: 0 for none,
// -1 for failure.
func digitResult(cmd string, r Reply) (string, error) {
	n, err := r.Int()
	if err != nil {
		return "", err
	}
	switch {
	case n == 0:
		return "", nil
	case n < 0:
		return "", fmt.Errorf("%s: %w", cmd, ErrCommandFailed)
	case n > 127:
		return "", fmt.Errorf("%w: %s result %d is not a key", ErrProtocol, cmd, n)
	}
	return string(rune(n)), nil
}

// GetData plays file and collects up to maxDigits keys, waiting timeoutMs
// after the last one (0: Asterisk's default). The digits are returned as
// sent (leading zeros, `*` and `#` kept); timedOut reports that input ended
// by timeout, possibly after some digits.
func (s *Session) GetData(file string, timeoutMs, maxDigits int) (digits string, timedOut bool, err error) {
	if err := s.ready(); err != nil {
		return "", false, err
	}
	if err := checkArg("file", file); err != nil {
		return "", false, err
	}
	if timeoutMs < 0 || maxDigits < 0 {
		return "", false, fmt.Errorf("%w: GET DATA timeout %d ms and max digits %d must not be negative", ErrBadArgument, timeoutMs, maxDigits)
	}
	s.wbuf = append(s.wbuf[:0], "GET DATA "...)
	s.wbuf = appendArg(s.wbuf, file)
	s.wbuf = append(s.wbuf, ' ')
	s.wbuf = strconv.AppendInt(s.wbuf, int64(timeoutMs), 10)
	if maxDigits > 0 {
		s.wbuf = append(s.wbuf, ' ')
		s.wbuf = strconv.AppendInt(s.wbuf, int64(maxDigits), 10)
	}
	s.wbuf = append(s.wbuf, '\n')
	r, err := s.roundTrip()
	if err != nil {
		return "", false, err
	}
	return getDataResult(r)
}

// getDataResult decodes GET DATA's reply: `200 result=0042`,
// `200 result=12 (timeout)`, `200 result= (timeout)`, or `200 result=-1`.
func getDataResult(r Reply) (digits string, timedOut bool, err error) {
	if r.Result == "-1" {
		return "", false, fmt.Errorf("GET DATA: %w", ErrCommandFailed)
	}
	return r.Result, r.HasData && r.Data == "timeout", nil
}

// roundTrip writes s.wbuf and reads the reply to it.
func (s *Session) roundTrip() (Reply, error) {
	if len(s.wbuf) > maxCommandBytes {
		return Reply{}, fmt.Errorf("%w: command %q… is %d bytes, over res_agi's %d", ErrBadArgument,
			clip(s.wbuf), len(s.wbuf), maxCommandBytes)
	}
	s.inFlight = true
	if err := s.armDeadlines(); err != nil {
		return Reply{}, s.fail(err)
	}
	if _, err := s.conn.Write(s.wbuf); err != nil {
		return Reply{}, s.fail(err)
	}
	r, err := s.readReply()
	if err != nil {
		return Reply{}, s.fail(err)
	}
	s.inFlight = false
	s.absorbHangup()
	if r.Code != 200 {
		if r.Code == 511 {
			s.hungUp = true
		}
		return r, &CommandError{Command: string(bytes.TrimSuffix(s.wbuf, []byte("\n"))), Reply: r}
	}
	return r, nil
}

// armDeadlines starts the idle deadline for the reply, and keeps a write
// deadline in place. The write deadline only has to catch a peer that
// answers without ever reading (a write blocks once the socket buffers
// fill): it is renewed when less than half of IdleTimeout is left, so such
// a peer is cut after between IdleTimeout/2 and IdleTimeout.
func (s *Session) armDeadlines() error {
	now := time.Now()
	if s.writeDeadline.Sub(now) < s.idle/2 {
		s.writeDeadline = now.Add(s.idle)
		if err := s.conn.SetWriteDeadline(s.writeDeadline); err != nil {
			return err
		}
	}
	if err := s.conn.SetReadDeadline(now.Add(s.idle)); err != nil {
		return err
	}
	s.cr.armed = true
	return nil
}

// fail makes a transport or protocol error permanent: once a reply may be
// lost or half read, no later reply can be trusted to match its command.
func (s *Session) fail(err error) error {
	s.err = fmt.Errorf("agi session: %w", err)
	return s.err
}

// readReply reads one reply, skipping HANGUP notices.
func (s *Session) readReply() (Reply, error) {
	for {
		line, err := s.lr.readLine()
		if err != nil {
			return Reply{}, err
		}
		if isHangupLine(line) {
			s.hungUp = true
			continue
		}
		code, multi, err := replyCode(line)
		if err != nil {
			return Reply{}, err
		}
		if !multi {
			return parseReplyLine(line)
		}
		return s.readBlock(code, line)
	}
}

// readBlock reads a multi-line reply (`520-…` usage lines `520 End of proper
// usage.`) to its end, so none of it is taken for a later reply.
func (s *Session) readBlock(code int, first []byte) (Reply, error) {
	s.block = append(s.block[:0], first...)
	for {
		line, err := s.lr.readLine()
		if err != nil {
			return Reply{}, err
		}
		if len(s.block)+1+len(line) > s.maxBlock {
			return Reply{}, fmt.Errorf("%w: %d reply block over %d bytes", ErrProtocol, code, s.maxBlock)
		}
		s.block = append(s.block, '\n')
		s.block = append(s.block, line...)
		if blockEnd(line, code) {
			if code == 200 {
				// Asterisk sends blocks only for errors (520 usage); a
				// "200-" block carries no result= and is not a reply
				// any command can succeed with (found by FuzzParseReply).
				return Reply{}, fmt.Errorf("%w: a 200 reply spans %d bytes of lines", ErrProtocol, len(s.block))
			}
			return Reply{Code: code, Text: string(s.block)}, nil
		}
	}
}

// absorbHangup consumes a HANGUP notice already received after a reply, so
// that the next command is refused instead of sent to a dead channel. It
// never waits for the network.
func (s *Session) absorbHangup() {
	const notice = "HANGUP\n"
	n := s.lr.r.Buffered()
	if n < len(notice) {
		return
	}
	b, _ := s.lr.r.Peek(min(n, len(notice)+1))
	switch {
	case bytes.HasPrefix(b, []byte(notice)):
		s.lr.r.Discard(len(notice))
	case bytes.HasPrefix(b, []byte("HANGUP\r\n")):
		s.lr.r.Discard(len(notice) + 1)
	default:
		return
	}
	s.hungUp = true
}

// checkName refuses an empty variable, function, application or command
// name.
func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty name", ErrBadArgument)
	}
	return checkArg("name", name)
}

// Byte classes for command arguments, looked up in one pass over a value.
const (
	// argUnsafe cannot travel inside one command line: a line break would
	// end the command early and run the rest as a new one, and Asterisk's
	// C strings end at NUL.
	argUnsafe = 1 << iota
	// argSpecial means something to res_agi's parse_args: it splits on
	// unquoted spaces and tabs, toggles quoting on `"`, and drops a
	// backslash while keeping the next byte literally.
	argSpecial
)

var argClass = [256]uint8{
	'\n': argUnsafe, '\r': argUnsafe, 0: argUnsafe,
	' ': argSpecial, '\t': argSpecial, '"': argSpecial, '\\': argSpecial,
}

func classify(v string) (class uint8) {
	for i := 0; i < len(v); i++ {
		class |= argClass[v[i]]
	}
	return class
}

// checkArg refuses a value holding argUnsafe bytes.
func checkArg(what, v string) error {
	if classify(v)&argUnsafe != 0 {
		i := strings.IndexAny(v, "\n\r\x00")
		return fmt.Errorf("%w: %s %q holds a line break or NUL at byte %d", ErrBadArgument, what, clip([]byte(v)), i)
	}
	return nil
}

// appendArg appends v as one res_agi argument: bare when nothing in it is
// special (as the captured traffic shows: `SET VARIABLE XROUTE sales`), else
// quoted, with `"` and `\` escaped inside the quotes.
func appendArg(dst []byte, v string) []byte {
	if v != "" && classify(v)&argSpecial == 0 {
		return append(dst, v...)
	}
	return appendQuoted(dst, v)
}

func appendQuoted(dst []byte, v string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '"' || c == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, v[i])
	}
	return append(dst, '"')
}
