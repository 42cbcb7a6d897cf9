// Package journal is a local append-only log for write-behind buffers: an
// entry is appended before the caller is answered, replayed into the
// database after a crash, and truncated once the database has it.
//
// A record is on the disk (the kernel's page cache) when Append returns, so
// killing the process loses nothing; it is on stable storage after the next
// group commit (Run fsyncs every Options.SyncEvery), so a power cut loses at
// most that interval. Records are numbered with a sequence that only grows
// and survives restarts; consumers remember how far they got and Truncate.
package journal

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options tune a Journal; zero values take the defaults.
type Options struct {
	// SyncEvery is how often Run fsyncs what was appended (default 100ms):
	// the most a power cut can lose. A kill -9 loses nothing appended.
	SyncEvery time.Duration
	// SegmentBytes is the size past which a new segment file is started
	// (default 1 MiB). Truncate deletes whole segments, so a restart may
	// replay up to this much that the consumer had already stored; the
	// consumer's writes must be idempotent.
	SegmentBytes int64
	Logger       *slog.Logger
}

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("journal: closed")

// A frame is a 16-byte header — payload length, CRC-32C of sequence and
// payload, sequence — then the payload. The CRC finds a record torn by a
// crash in the middle of a write.
const headerSize = 16

// maxRecord bounds a payload, so a corrupt length cannot ask for gigabytes.
const maxRecord = 16 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Journal is a directory of segment files named after the sequence of their
// first record. Its methods are safe for concurrent use.
type Journal struct {
	dir  string
	opts Options
	log  *slog.Logger

	mu     sync.Mutex
	firsts []uint64 // first sequence of each segment, ascending; the last is active
	f      *os.File // the active segment, opened for append
	size   int64    // bytes in the active segment
	next   uint64   // sequence of the next Append
	dirty  bool     // appended since the last fsync
	closed bool
	buf    []byte
	// sealed segments and a new directory entry wait for the next group
	// commit: fsyncing them in Append would hold every caller for it.
	sealed   []*os.File
	dirDirty bool
}

// Open opens (creating it if needed) the journal in dir. A record torn by a
// crash at the end of the last segment is cut off.
func Open(dir string, opts Options) (*Journal, error) {
	if opts.SyncEvery <= 0 {
		opts.SyncEvery = 100 * time.Millisecond
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = 1 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("journal: create the directory %q: %w", dir, err)
	}
	j := &Journal{dir: dir, opts: opts, log: opts.Logger}
	names, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("journal: read the directory %q: %w", dir, err)
	}
	for _, n := range names {
		first, ok := segmentSeq(n.Name())
		if ok {
			j.firsts = append(j.firsts, first)
		}
	}
	slices.Sort(j.firsts)
	if len(j.firsts) == 0 {
		j.next = 1
		if err := j.startSegment(); err != nil {
			return nil, err
		}
		return j, nil
	}
	last := j.firsts[len(j.firsts)-1]
	end, next, err := j.scanEnd(last)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(j.path(last), os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("journal: open %s: %w", j.path(last), err)
	}
	if st, err := f.Stat(); err == nil && st.Size() > end {
		j.log.Warn("journal: cutting off a record torn by a crash", "file", j.path(last), "at", end, "size", st.Size())
		if err := f.Truncate(end); err != nil {
			f.Close()
			return nil, fmt.Errorf("journal: cut the torn end of %s: %w", j.path(last), err)
		}
	}
	if _, err := f.Seek(end, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("journal: %w", err)
	}
	j.f, j.size, j.next = f, end, next
	return j, nil
}

func segmentSeq(name string) (uint64, bool) {
	s, ok := strings.CutSuffix(name, ".log")
	if !ok || len(s) != 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

func (j *Journal) path(first uint64) string {
	return filepath.Join(j.dir, fmt.Sprintf("%020d.log", first))
}

// scanEnd reads the segment starting at first and returns where its last
// whole record ends and the sequence after it.
func (j *Journal) scanEnd(first uint64) (end int64, next uint64, err error) {
	f, err := os.Open(j.path(first))
	if err != nil {
		return 0, 0, fmt.Errorf("journal: open %s: %w", j.path(first), err)
	}
	defer f.Close()
	next = first
	r := bufio.NewReaderSize(f, 64<<10)
	for {
		seq, p, err := readFrame(r, nil)
		if err != nil {
			return end, next, nil // io.EOF or a torn/corrupt tail: stop there
		}
		end += int64(headerSize + len(p))
		next = seq + 1
	}
}

// errCorrupt is a frame whose CRC or length is wrong.
var errCorrupt = errors.New("journal: corrupt record")

func readFrame(r *bufio.Reader, buf []byte) (uint64, []byte, error) {
	var h [headerSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, nil, errCorrupt
		}
		return 0, nil, err
	}
	n := binary.LittleEndian.Uint32(h[0:])
	sum := binary.LittleEndian.Uint32(h[4:])
	seq := binary.LittleEndian.Uint64(h[8:])
	if n > maxRecord {
		return 0, nil, errCorrupt
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, nil, errCorrupt
	}
	c := crc32.Update(crc32.Checksum(h[8:16], castagnoli), castagnoli, buf)
	if c != sum {
		return 0, nil, errCorrupt
	}
	return seq, buf, nil
}

// startSegment makes a new active segment beginning at j.next. Called with
// j.mu held (or before j is shared).
func (j *Journal) startSegment() error {
	p := j.path(j.next)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("journal: create %s (is the journal directory writable?): %w", p, err)
	}
	// The new name must survive a power cut, or the records in it would be
	// unreachable after one: the next Sync fsyncs the directory.
	j.dirDirty = true
	j.f, j.size = f, 0
	if len(j.firsts) == 0 || j.firsts[len(j.firsts)-1] != j.next {
		j.firsts = append(j.firsts, j.next)
	}
	return nil
}

// Append writes payload as the next record and returns its sequence. The
// record survives the process being killed once Append returns, and a power
// cut after the next group commit.
func (j *Journal) Append(payload []byte) (uint64, error) {
	if len(payload) > maxRecord {
		return 0, fmt.Errorf("journal: a record of %d bytes is over the %d-byte limit", len(payload), maxRecord)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return 0, ErrClosed
	}
	if j.size >= j.opts.SegmentBytes {
		prev := j.f
		if err := j.startSegment(); err != nil {
			return 0, err
		}
		j.sealed = append(j.sealed, prev)
	}
	seq := j.next
	b := slices.Grow(j.buf[:0], headerSize+len(payload))[:headerSize]
	binary.LittleEndian.PutUint32(b[0:], uint32(len(payload)))
	binary.LittleEndian.PutUint64(b[8:], seq)
	binary.LittleEndian.PutUint32(b[4:], crc32.Update(crc32.Checksum(b[8:16], castagnoli), castagnoli, payload))
	b = append(b, payload...)
	j.buf = b
	if _, err := j.f.Write(b); err != nil {
		// A short write would leave a torn record that later appends bury:
		// cut the file back to the last whole record.
		_ = j.f.Truncate(j.size)
		_, _ = j.f.Seek(j.size, io.SeekStart)
		return 0, fmt.Errorf("journal: append to %s (is the disk full?): %w", j.f.Name(), err)
	}
	j.size += int64(len(b))
	j.next++
	j.dirty = true
	return seq, nil
}

// Next is the sequence the next Append will get: every record before it
// has been appended.
func (j *Journal) Next() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.next
}

// First is the sequence of the oldest record still kept.
func (j *Journal) First() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.firsts[0]
}

// Sync fsyncs what was appended. Appends go on while it runs: that is the
// group commit, one fsync for every record appended since the last.
func (j *Journal) Sync() error {
	j.mu.Lock()
	if j.closed || (!j.dirty && len(j.sealed) == 0 && !j.dirDirty) {
		j.mu.Unlock()
		return nil
	}
	f, sealed, dir := j.f, j.sealed, j.dirDirty
	j.dirty, j.sealed, j.dirDirty = false, nil, false
	j.mu.Unlock()
	var errs []error
	for _, s := range sealed {
		if err := s.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("journal: sync %s: %w", s.Name(), err))
		}
		s.Close()
	}
	if dir {
		if err := syncDir(j.dir); err != nil {
			errs = append(errs, err)
		}
	}
	if err := f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
		// Close synced f itself: only other errors count.
		errs = append(errs, fmt.Errorf("journal: sync %s: %w", f.Name(), err))
	}
	if len(errs) > 0 {
		j.mu.Lock()
		j.dirty, j.dirDirty = true, j.dirDirty || dir
		j.mu.Unlock()
	}
	return errors.Join(errs...)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("journal: open the directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("journal: sync the directory %s: %w", dir, err)
	}
	return nil
}

// Run group-commits every Options.SyncEvery until ctx ends.
func (j *Journal) Run(ctx context.Context) {
	t := time.NewTicker(j.opts.SyncEvery)
	defer t.Stop()
	var failing bool
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			err := j.Sync()
			if err != nil && !failing {
				j.log.Error("journal: cannot fsync; records are safe from a crash of omniccd but not of the machine", "err", err)
			}
			failing = err != nil
		}
	}
}

// Read calls fn with every record from sequence from on, in order, until fn
// returns false. Records appended while it reads may or may not be seen.
// A corrupt record ends the read of its segment (it is logged); the read
// goes on with the next one.
func (j *Journal) Read(from uint64, fn func(seq uint64, payload []byte) bool) error {
	j.mu.Lock()
	firsts := slices.Clone(j.firsts)
	activeSize := j.size
	j.mu.Unlock()
	var buf []byte
	for i, first := range firsts {
		last := i == len(firsts)-1
		if !last && firsts[i+1] <= from {
			continue
		}
		f, err := os.Open(j.path(first))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // truncated meanwhile
			}
			return fmt.Errorf("journal: open %s: %w", j.path(first), err)
		}
		var src io.Reader = f
		if last {
			src = io.LimitReader(f, activeSize)
		}
		r := bufio.NewReaderSize(src, 64<<10)
		for {
			var seq uint64
			seq, buf, err = readFrame(r, buf)
			if err != nil {
				if !errors.Is(err, io.EOF) {
					j.log.Error("journal: corrupt record; the rest of its segment is skipped", "file", j.path(first), "err", err)
				}
				break
			}
			if seq < from {
				continue
			}
			if !fn(seq, buf) {
				f.Close()
				return nil
			}
		}
		f.Close()
	}
	return nil
}

// Truncate says every record before sequence upTo is stored elsewhere:
// segments holding only such records are deleted. The active segment is
// kept (it is deleted once sealed).
func (j *Journal) Truncate(upTo uint64) error {
	j.mu.Lock()
	var gone []uint64
	for len(j.firsts) > 1 && j.firsts[1] <= upTo {
		gone = append(gone, j.firsts[0])
		j.firsts = j.firsts[1:]
	}
	j.mu.Unlock()
	var errs []error
	for _, first := range gone {
		if err := os.Remove(j.path(first)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("journal: delete %s: %w", j.path(first), err))
		}
	}
	return errors.Join(errs...)
}

// Close fsyncs and closes the journal; Append fails from then on.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	j.closed = true
	var errs []error
	for _, s := range append(j.sealed, j.f) {
		if err := s.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("journal: sync %s: %w", s.Name(), err))
		}
		s.Close()
	}
	j.sealed = nil
	if j.dirDirty {
		errs = append(errs, syncDir(j.dir))
	}
	return errors.Join(errs...)
}
