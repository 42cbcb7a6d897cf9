package ami

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrMalformed is wrapped by every error about bytes that are not the manager
// protocol or that exceed Limits. The connection cannot be trusted after it:
// the client drops it and reconnects.
var ErrMalformed = errors.New("ami: malformed manager stream")

// Limits bound what one peer can make the reader hold in memory. A manager
// peer is trusted to be Asterisk, but a wrong OMNICC_AMI address or a hostile
// listener must not be able to exhaust memory with one endless line.
type Limits struct {
	// MaxLineBytes caps one `Key: Value` line. Default 64 KiB: Asterisk's own
	// long lines are CLI output and channel variables, well under that.
	MaxLineBytes int
	// MaxFields caps the lines of one message. Default 8192: a Command
	// answer carries one `Output` line per line of CLI output.
	MaxFields int
	// MaxMessageBytes caps one whole message. Default 4 MiB.
	MaxMessageBytes int
}

const (
	defaultMaxLineBytes    = 64 << 10
	defaultMaxFields       = 8192
	defaultMaxMessageBytes = 4 << 20
)

func (l Limits) withDefaults() Limits {
	if l.MaxLineBytes <= 0 {
		l.MaxLineBytes = defaultMaxLineBytes
	}
	if l.MaxFields <= 0 {
		l.MaxFields = defaultMaxFields
	}
	if l.MaxMessageBytes <= 0 {
		l.MaxMessageBytes = defaultMaxMessageBytes
	}
	return l
}

// bannerPrefix starts the one line Asterisk sends on connect
// (`Asterisk Call Manager/11.0.0`), with no blank line after it.
const bannerPrefix = "Asterisk Call Manager"

// Reader parses a manager byte stream into messages. It is not safe for
// concurrent use; the client gives each connection one reader goroutine.
type Reader struct {
	br  *bufio.Reader
	lim Limits
	// buf holds the current message's lines, terminators stripped, and spans
	// locate each key and value in it; both are reused across messages so that
	// a message costs two allocations: its string and its field slice.
	buf   []byte
	spans []span
}

type span struct{ keyStart, keyEnd, valStart, valEnd int }

// NewReader returns a Reader over r. r is used as is when it already is a
// *bufio.Reader; lines longer than its buffer are still read whole, up to
// lim.MaxLineBytes. Zero Limits fields take their defaults.
func NewReader(r io.Reader, lim Limits) *Reader {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 16<<10)
	}
	return &Reader{br: br, lim: lim.withDefaults()}
}

// Reset makes the Reader read from r, keeping its buffers; benchmarks and
// servers that parse many streams use it to stay allocation-free.
func (r *Reader) Reset(rd io.Reader) {
	r.br.Reset(rd)
	r.buf = r.buf[:0]
	r.spans = r.spans[:0]
}

// ReadBanner reads the greeting line and returns it without its terminator.
// It fails when the peer is not an Asterisk manager interface, which is what
// a wrong port in OMNICC_AMI looks like.
func (r *Reader) ReadBanner() (string, error) {
	r.buf = r.buf[:0]
	line, err := r.readLine()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return "", fmt.Errorf("%w: connection closed before the manager banner", io.ErrUnexpectedEOF)
		}
		return "", err
	}
	if !bytes.HasPrefix(line, []byte(bannerPrefix)) {
		const max = 64
		if len(line) > max {
			line = line[:max]
		}
		return "", fmt.Errorf("%w: banner %q is not %q…; check that the address points at Asterisk's manager port (manager.conf, usually 5038)",
			ErrMalformed, line, bannerPrefix)
	}
	return string(line), nil
}

// ReadMessage reads the next message. It returns io.EOF when the stream ends
// between messages and io.ErrUnexpectedEOF when it ends inside one. Blank
// lines between messages are skipped. Lines may end with CRLF or LF only.
// A line with no colon becomes a field with an empty Key, so that nothing a
// peer sends is silently lost.
func (r *Reader) ReadMessage() (Message, error) {
	r.buf = r.buf[:0]
	r.spans = r.spans[:0]
	for {
		start := len(r.buf)
		line, err := r.readLine()
		if err != nil {
			if errors.Is(err, io.EOF) && len(r.spans) == 0 && len(r.buf) == start {
				return Message{}, io.EOF
			}
			if errors.Is(err, io.EOF) {
				return Message{}, io.ErrUnexpectedEOF
			}
			return Message{}, err
		}
		if len(line) == 0 {
			if len(r.spans) == 0 {
				continue
			}
			return r.build(), nil
		}
		if len(r.spans) >= r.lim.MaxFields {
			return Message{}, fmt.Errorf("%w: more than %d fields in one message", ErrMalformed, r.lim.MaxFields)
		}
		if len(r.buf) > r.lim.MaxMessageBytes {
			return Message{}, fmt.Errorf("%w: message larger than %d bytes", ErrMalformed, r.lim.MaxMessageBytes)
		}
		end := len(r.buf)
		sp := span{keyStart: start, keyEnd: start, valStart: start, valEnd: end}
		if colon := bytes.IndexByte(line, ':'); colon >= 0 {
			sp.keyEnd = start + colon
			sp.valStart = start + colon + 1
			// Asterisk writes "Key: Value": drop that one space and no more,
			// so indented CLI output in `Output:` lines stays intact.
			if sp.valStart < end && r.buf[sp.valStart] == ' ' {
				sp.valStart++
			}
		}
		r.spans = append(r.spans, sp)
	}
}

// readLine appends the next line to r.buf, strips its terminator (LF or
// CRLF) and returns the appended part. Lines longer than the bufio buffer are
// assembled chunk by chunk, up to MaxLineBytes.
func (r *Reader) readLine() ([]byte, error) {
	start := len(r.buf)
	for {
		chunk, err := r.br.ReadSlice('\n')
		if len(r.buf)-start+len(chunk) > r.lim.MaxLineBytes+2 { // +2: the terminator is not content
			return nil, fmt.Errorf("%w: line longer than %d bytes", ErrMalformed, r.lim.MaxLineBytes)
		}
		r.buf = append(r.buf, chunk...)
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, err
	}
	end := len(r.buf) - 1 // the '\n'
	if end > start && r.buf[end-1] == '\r' {
		end--
	}
	// The check above allowed for a CRLF; an LF-only line must not gain
	// that extra byte of content.
	if end-start > r.lim.MaxLineBytes {
		return nil, fmt.Errorf("%w: line longer than %d bytes", ErrMalformed, r.lim.MaxLineBytes)
	}
	r.buf = r.buf[:end]
	return r.buf[start:end], nil
}

// build turns the buffered lines into a Message: one string holds every
// byte and the fields are substrings of it, so parsing costs two allocations
// however many fields the message has.
func (r *Reader) build() Message {
	s := string(r.buf)
	fields := make([]Field, len(r.spans))
	for i, sp := range r.spans {
		fields[i] = Field{Key: s[sp.keyStart:sp.keyEnd], Value: s[sp.valStart:sp.valEnd]}
	}
	return Message{fields: fields}
}

// isBanner reports whether a line is the manager greeting; test transcripts
// hold one per connection.
func isBanner(line string) bool { return strings.HasPrefix(line, bannerPrefix) }
