package agi

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// ErrMalformedHeader: the block Asterisk sends when it connects is not a
// FastAGI header. The session is closed without a word, since the peer is
// not known to be Asterisk.
var ErrMalformedHeader = errors.New("agi: malformed header")

// maxArgs is res_agi's MAX_ARGS: Asterisk never sends more dialplan
// arguments than this, and the bound keeps a hostile `agi_arg_99999` from
// allocating a huge slice.
const maxArgs = 128

// Request is the header block Asterisk sends when a FastAGI session opens.
type Request struct {
	// Script is agi_network_script without its query string and leading
	// slash: `route?queue=sales` gives "route".
	Script string
	// Query is the parsed query string of agi_network_script; pairs with
	// invalid escapes are left out.
	Query url.Values

	URL          string // agi_request, the full agi:// URL
	Channel      string // agi_channel
	Language     string // agi_language
	Type         string // agi_type, the channel technology
	UniqueID     string // agi_uniqueid
	Version      string // agi_version, Asterisk's version
	CallerID     string // agi_callerid; "unknown" when there is none
	CallerIDName string // agi_calleridname
	CallingPres  string // agi_callingpres
	CallingANI2  string // agi_callingani2
	CallingTON   string // agi_callington
	CallingTNS   string // agi_callingtns
	DNID         string // agi_dnid; "unknown" when there is none
	RDNIS        string // agi_rdnis
	Context      string // agi_context
	Extension    string // agi_extension
	Priority     string // agi_priority
	Enhanced     string // agi_enhanced
	AccountCode  string // agi_accountcode
	ThreadID     string // agi_threadid

	// Args are agi_arg_1, agi_arg_2, … in order: the dialplan arguments
	// after the URL in AGI(agi://host/script,arg1,arg2).
	Args []string
	// Env holds every agi_* key as sent, including those above.
	Env map[string]string

	queryErr error // why Query lost pairs, for the server's log
}

// DID is the number the caller dialled, as SPEC.md defines it: the
// channel's extension, or the dialled number (agi_dnid) when the call
// arrived on the `s` extension. It is empty when Asterisk has none
// ("unknown").
func (r *Request) DID() string {
	did := r.Extension
	if did == "s" {
		did = r.DNID
	}
	if did == "unknown" {
		return ""
	}
	return did
}

// lineReader reads LF-terminated lines of bounded length.
type lineReader struct {
	r *bufio.Reader // its buffer size is the line cap
}

// readLine returns the next line without its "\n" and any CRs before it.
// All of them go, not just one: a line ending "\r\r\n" would otherwise keep
// a CR in its value ("0\r" for a script name), which no handler expects and
// which reads differently from the same line sent with "\n" only. The
// slice is only valid until the next read.
func (lr *lineReader) readLine() ([]byte, error) {
	line, err := lr.r.ReadSlice('\n')
	switch {
	case err == nil:
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, fmt.Errorf("%w (over %d bytes): %q", ErrLineTooLong, lr.r.Size(), clip(line))
	case errors.Is(err, io.EOF) && len(line) > 0:
		return nil, fmt.Errorf("connection closed in the middle of line %q: %w", clip(line), io.ErrUnexpectedEOF)
	default:
		return nil, err
	}
	return bytes.TrimRight(line[:len(line)-1], "\r"), nil
}

// readHeader reads the header block up to its blank line and parses it.
// Lines are checked as they arrive so that a peer that is not Asterisk
// (an HTTP client, garbage) is dropped at its first line, not after
// HeaderTimeout. buf is scratch space, returned for reuse.
func readHeader(lr *lineReader, maxHeader int, buf []byte) (*Request, []byte, error) {
	buf = buf[:0]
	for {
		line, err := lr.readLine()
		if err != nil {
			// A close before the first byte stays io.EOF (a port probe);
			// a close after it is a truncated header.
			if errors.Is(err, io.EOF) && len(buf) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, buf, fmt.Errorf("%w: before its blank line: %w", ErrMalformedHeader, err)
		}
		if len(line) == 0 {
			break
		}
		if err := checkHeaderLine(line); err != nil {
			return nil, buf, err
		}
		if len(buf)+len(line)+1 > maxHeader {
			return nil, buf, fmt.Errorf("%w: longer than %d bytes", ErrMalformedHeader, maxHeader)
		}
		buf = append(buf, line...)
		buf = append(buf, '\n')
	}
	req, err := parseHeader(string(buf))
	return req, buf, err
}

// checkHeaderLine is splitHeaderLine's check on a line still in the read
// buffer, so that checking does not allocate.
func checkHeaderLine(line []byte) error {
	i := bytes.IndexByte(line, ':')
	if i < 0 {
		return fmt.Errorf("%w: line %q has no colon", ErrMalformedHeader, clip(line))
	}
	if !validKey(line[:i]) {
		return fmt.Errorf("%w: line %q does not start with an agi_ key", ErrMalformedHeader, clip(line))
	}
	return nil
}

// splitHeaderLine splits `agi_key: value`. The value may be empty and may
// hold colons (agi_request is a URL).
func splitHeaderLine(line string) (key, value string, err error) {
	key, value, ok := strings.Cut(line, ":")
	if !ok {
		return "", "", fmt.Errorf("%w: line %q has no colon", ErrMalformedHeader, clip([]byte(line)))
	}
	if !validKey(key) {
		return "", "", fmt.Errorf("%w: line %q does not start with an agi_ key", ErrMalformedHeader, clip([]byte(line)))
	}
	value = strings.TrimPrefix(value, " ")
	return key, value, nil
}

func validKey[T string | []byte](k T) bool {
	if len(k) <= len("agi_") || string(k[:4]) != "agi_" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || isDigit(c) || c == '_') {
			return false
		}
	}
	return true
}

// parseHeader parses a header block of "\n"-terminated lines (the blank
// line excluded). Every key and value is a substring of block, so a whole
// header costs one string allocation besides the map.
func parseHeader(block string) (*Request, error) {
	req := &Request{Env: make(map[string]string, 24)}
	for block != "" {
		line, rest, _ := strings.Cut(block, "\n")
		block = rest
		key, value, err := splitHeaderLine(line)
		if err != nil {
			return nil, err
		}
		n := len(req.Env)
		req.Env[key] = value
		if len(req.Env) == n {
			return nil, fmt.Errorf("%w: key %s sent twice", ErrMalformedHeader, key)
		}
		if err := req.setField(key, value); err != nil {
			return nil, err
		}
	}
	script, ok := req.Env["agi_network_script"]
	if !ok {
		return nil, fmt.Errorf("%w: no agi_network_script (not a FastAGI request)", ErrMalformedHeader)
	}
	script, rawQuery, hasQuery := strings.Cut(script, "?")
	// agi://host//inbound reaches us as "/inbound": any leading slashes go.
	req.Script = strings.TrimLeft(script, "/")
	if hasQuery {
		// ParseQuery keeps the valid pairs when it reports an error; a
		// handler missing a parameter says so itself, which is clearer
		// in the dialplan than refusing the whole call.
		req.Query, req.queryErr = url.ParseQuery(rawQuery)
	}
	for i, a := range req.Args {
		if a == "" {
			if _, ok := req.Env[argKey(i+1)]; !ok {
				return nil, fmt.Errorf("%w: agi_arg_%d missing before agi_arg_%d", ErrMalformedHeader, i+1, len(req.Args))
			}
		}
	}
	return req, nil
}

func argKey(n int) string { return fmt.Sprintf("agi_arg_%d", n) }

func (r *Request) setField(key, value string) error {
	switch key {
	case "agi_request":
		r.URL = value
	case "agi_channel":
		r.Channel = value
	case "agi_language":
		r.Language = value
	case "agi_type":
		r.Type = value
	case "agi_uniqueid":
		r.UniqueID = value
	case "agi_version":
		r.Version = value
	case "agi_callerid":
		r.CallerID = value
	case "agi_calleridname":
		r.CallerIDName = value
	case "agi_callingpres":
		r.CallingPres = value
	case "agi_callingani2":
		r.CallingANI2 = value
	case "agi_callington":
		r.CallingTON = value
	case "agi_callingtns":
		r.CallingTNS = value
	case "agi_dnid":
		r.DNID = value
	case "agi_rdnis":
		r.RDNIS = value
	case "agi_context":
		r.Context = value
	case "agi_extension":
		r.Extension = value
	case "agi_priority":
		r.Priority = value
	case "agi_enhanced":
		r.Enhanced = value
	case "agi_accountcode":
		r.AccountCode = value
	case "agi_threadid":
		r.ThreadID = value
	default:
		n, isArg, err := argIndex(key)
		if err != nil {
			return err
		}
		if !isArg {
			return nil
		}
		if n > len(r.Args) {
			if r.Args == nil {
				r.Args = make([]string, 0, 4) // dialplans pass a few
			}
			r.Args = append(r.Args, make([]string, n-len(r.Args))...)
		}
		r.Args[n-1] = value
	}
	return nil
}

// argIndex parses N in agi_arg_N. Other keys are not arguments. N must be
// written canonically (no sign, no leading zero) so that two keys cannot
// name the same argument.
func argIndex(key string) (n int, isArg bool, err error) {
	digits, ok := strings.CutPrefix(key, "agi_arg_")
	if !ok {
		return 0, false, nil
	}
	if digits == "" || digits[0] == '0' || len(digits) > 3 {
		return 0, true, fmt.Errorf("%w: bad argument key %s", ErrMalformedHeader, key)
	}
	for i := 0; i < len(digits); i++ {
		if !isDigit(digits[i]) {
			return 0, true, fmt.Errorf("%w: bad argument key %s", ErrMalformedHeader, key)
		}
		n = n*10 + int(digits[i]-'0')
	}
	if n > maxArgs {
		return 0, true, fmt.Errorf("%w: %s is over Asterisk's %d arguments", ErrMalformedHeader, key, maxArgs)
	}
	return n, true, nil
}
