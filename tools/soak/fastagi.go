package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// callSpec is one inbound call as Asterisk would present it to
// agi://HOST/inbound.
type callSpec struct {
	Addr      string // host:port of the FastAGI listener
	DID       string // agi_extension and agi_dnid
	Caller    string // agi_callerid, unique per session
	UniqueID  string // agi_uniqueid, also answered as CHANNEL(linkedid)
	Channel   string // agi_channel
	ThreadID  int64  // agi_threadid
	Deadline  time.Duration
	DialLimit time.Duration
	// LinkedIDInURL: the script is inbound?linkedid=<uniqueid>, as the
	// sample dialplan calls it (asterisk-conf: AGI(${OMNICC_AGI}/inbound?
	// linkedid=${CHANNEL(linkedid)})); else plain inbound, and omniccd asks
	// for CHANNEL(linkedid) with GET VARIABLE.
	LinkedIDInURL bool
}

// callResult is what omniccd told Asterisk.
type callResult struct {
	Vars     map[string]string // every SET VARIABLE, last value wins
	Commands int               // commands answered
	// Decided is when OMNICC_DEST_TYPE arrived: the routing reply Asterisk
	// would act on.
	Decided time.Time
}

// header writes the AGI environment exactly as res_agi sends it for a
// FastAGI call (fixture fastagi-session.txt): one "key: value\n" per
// variable in this order, then an empty line.
func (c callSpec) header() []byte {
	var b strings.Builder
	kv := func(k, v string) {
		b.WriteString(k)
		b.WriteString(": ")
		b.WriteString(v)
		b.WriteByte('\n')
	}
	script := "inbound"
	if c.LinkedIDInURL {
		// A new inbound channel is its own linkedid.
		script += "?linkedid=" + c.UniqueID
	}
	kv("agi_network", "yes")
	kv("agi_network_script", script)
	kv("agi_request", "agi://"+c.Addr+"/"+script)
	kv("agi_channel", c.Channel)
	kv("agi_language", "en")
	kv("agi_type", "PJSIP")
	kv("agi_uniqueid", c.UniqueID)
	kv("agi_version", "22.10.1")
	kv("agi_callerid", c.Caller)
	kv("agi_calleridname", "Soak Caller")
	kv("agi_callingpres", "0")
	kv("agi_callingani2", "0")
	kv("agi_callington", "0")
	kv("agi_callingtns", "0")
	kv("agi_dnid", c.DID)
	kv("agi_rdnis", "unknown")
	kv("agi_context", "omnicc-inbound")
	kv("agi_extension", c.DID)
	kv("agi_priority", "1")
	kv("agi_enhanced", "0.0")
	kv("agi_accountcode", "") // Asterisk sends "agi_accountcode: \n"
	kv("agi_threadid", strconv.FormatInt(c.ThreadID, 10))
	b.WriteByte('\n')
	return []byte(b.String())
}

// errKind names why a session failed, for the error counters.
type errKind struct {
	kind string
	err  error
}

func (e *errKind) Error() string { return e.kind + ": " + e.err.Error() }
func (e *errKind) Unwrap() error { return e.err }

func failAs(kind string, err error) error { return &errKind{kind: kind, err: err} }

// reasonOf is the counter name of a session error.
func reasonOf(err error) string {
	var ek *errKind
	if errors.As(err, &ek) {
		return ek.kind
	}
	return "other"
}

// runCall plays Asterisk's side of one FastAGI /inbound session: it sends
// the header, answers every command as Asterisk does (200 result=1; GET
// VARIABLE with the value in parentheses, or result=0 when unset; HANGUP
// followed by Asterisk's own HANGUP notice) until omniccd closes the
// socket, as Asterisk waits for the script to end.
func runCall(c callSpec) (callResult, error) {
	res := callResult{Vars: map[string]string{}}
	d := net.Dialer{Timeout: c.DialLimit}
	conn, err := d.Dial("tcp", c.Addr)
	if err != nil {
		return res, failAs("connect", err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(c.Deadline)); err != nil {
		return res, failAs("io", err)
	}
	if _, err := conn.Write(c.header()); err != nil {
		return res, failAs("write", err)
	}
	r := bufio.NewReaderSize(conn, 4096)
	w := bufio.NewWriterSize(conn, 256)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) && line == "" {
				return res, nil // omniccd ended the script
			}
			if errors.Is(err, io.EOF) {
				return res, failAs("protocol", fmt.Errorf("command cut short: %q", line))
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return res, failAs("timeout", err)
			}
			return res, failAs("read", err)
		}
		reply, hangup := answer(strings.TrimRight(line, "\r\n"), c, &res)
		if res.Decided.IsZero() && res.Vars["OMNICC_DEST_TYPE"] != "" {
			res.Decided = time.Now()
		}
		res.Commands++
		w.WriteString(reply)
		if hangup {
			w.WriteString("HANGUP\n")
		}
		if err := w.Flush(); err != nil {
			return res, failAs("write", err)
		}
	}
}

// answer is Asterisk's reply to one command line.
func answer(line string, c callSpec, res *callResult) (reply string, hangup bool) {
	args := parseArgs(line)
	if len(args) == 0 {
		return "510 Invalid or unknown command\n", false
	}
	verb := strings.ToUpper(args[0])
	if len(args) > 1 {
		verb2 := verb + " " + strings.ToUpper(args[1])
		switch verb2 {
		case "SET VARIABLE":
			if len(args) != 4 {
				return "520 End of proper usage.\n", false
			}
			res.Vars[args[2]] = args[3]
			return "200 result=1\n", false
		case "GET VARIABLE":
			if len(args) != 3 {
				return "520 End of proper usage.\n", false
			}
			switch args[2] {
			case "CHANNEL(linkedid)", "CHANNEL(uniqueid)", "UNIQUEID":
				return "200 result=1 (" + c.UniqueID + ")\n", false
			case "CALLERID(num)":
				return "200 result=1 (" + c.Caller + ")\n", false
			}
			if v, ok := res.Vars[args[2]]; ok {
				return "200 result=1 (" + v + ")\n", false
			}
			return "200 result=0\n", false
		}
	}
	if verb == "HANGUP" {
		return "200 result=1\n", true
	}
	return "200 result=1\n", false
}

// parseArgs splits a command line the way res_agi's parse_args does:
// unquoted spaces and tabs separate arguments, a double quote toggles
// quoting, and a backslash keeps the next byte literally.
func parseArgs(line string) []string {
	var (
		args    []string
		cur     []byte
		inArg   bool
		quoted  bool
		escaped bool
	)
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case escaped:
			cur = append(cur, ch)
			inArg, escaped = true, false
		case ch == '\\':
			escaped, inArg = true, true
		case ch == '"':
			quoted, inArg = !quoted, true
		case (ch == ' ' || ch == '\t') && !quoted:
			if inArg {
				args = append(args, string(cur))
				cur, inArg = cur[:0], false
			}
		default:
			cur = append(cur, ch)
			inArg = true
		}
	}
	if inArg {
		args = append(args, string(cur))
	}
	return args
}
