package ami

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
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
	spans []fieldSpan
}

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
	buf, err := r.readLine(r.buf[:0])
	r.buf = buf[:0]
	line := buf
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
	// The buffers live in locals while the message is read: assigning to
	// the Reader's fields on every line would cost a GC write barrier each.
	buf, spans := r.buf[:0], r.spans[:0]
	defer func() { r.buf, r.spans = buf[:0], spans[:0] }()
	for {
		start := len(buf)
		var err error
		buf, err = r.readLine(buf)
		if err != nil {
			if errors.Is(err, io.EOF) && len(spans) == 0 && len(buf) == start {
				return Message{}, io.EOF
			}
			if errors.Is(err, io.EOF) {
				return Message{}, io.ErrUnexpectedEOF
			}
			return Message{}, err
		}
		end := len(buf)
		if end == start {
			if len(spans) == 0 {
				continue
			}
			// One string holds every byte and a pointer-free slice locates
			// the fields: two allocations however many fields, and nothing
			// for the garbage collector to scan.
			return Message{raw: string(buf), spans: append([]fieldSpan(nil), spans...)}, nil
		}
		if len(spans) >= r.lim.MaxFields {
			return Message{}, fmt.Errorf("%w: more than %d fields in one message", ErrMalformed, r.lim.MaxFields)
		}
		if end > r.lim.MaxMessageBytes {
			return Message{}, fmt.Errorf("%w: message larger than %d bytes", ErrMalformed, r.lim.MaxMessageBytes)
		}
		// A plain loop beats bytes.IndexByte here: keys are a dozen bytes.
		colon := -1
		for i := start; i < end; i++ {
			if buf[i] == ':' {
				colon = i
				break
			}
		}
		sp := fieldSpan{keyStart: uint32(start), keyEnd: uint32(start), valStart: uint32(start), valEnd: uint32(end)}
		if colon >= 0 {
			sp.keyEnd = uint32(colon)
			sp.valStart = uint32(colon + 1)
			// Asterisk writes "Key: Value": drop that one space and no more,
			// so indented CLI output in `Output:` lines stays intact.
			if colon+1 < end && buf[colon+1] == ' ' {
				sp.valStart++
			}
		}
		spans = append(spans, sp)
	}
}

// readLine appends the next line to buf without its terminator (LF or
// CRLF). Lines longer than the bufio buffer are assembled chunk by chunk, up
// to MaxLineBytes. At EOF, a partial line is left appended.
func (r *Reader) readLine(buf []byte) ([]byte, error) {
	start := len(buf)
	for {
		chunk, err := r.br.ReadSlice('\n')
		if len(buf)-start+len(chunk) > r.lim.MaxLineBytes+2 { // +2: the terminator is not content
			return buf, fmt.Errorf("%w: line longer than %d bytes", ErrMalformed, r.lim.MaxLineBytes)
		}
		buf = append(buf, chunk...)
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			return buf, io.EOF
		}
		return buf, err
	}
	end := len(buf) - 1 // the '\n'
	if end > start && buf[end-1] == '\r' {
		end--
	}
	// The check above allowed for a CRLF; an LF-only line must not gain
	// that extra byte of content.
	if end-start > r.lim.MaxLineBytes {
		return buf, fmt.Errorf("%w: line longer than %d bytes", ErrMalformed, r.lim.MaxLineBytes)
	}
	return buf[:end], nil
}
