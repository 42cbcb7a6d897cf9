package journal_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"omnicc/journal"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func open(t *testing.T, dir string, segment int64) *journal.Journal {
	t.Helper()
	j, err := journal.Open(dir, journal.Options{SegmentBytes: segment})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func appendN(t *testing.T, j *journal.Journal, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		seq, err := j.Append([]byte(fmt.Sprintf("record %d", i)))
		if err != nil {
			t.Fatal(err)
		}
		if seq != uint64(i) {
			t.Fatalf("record %d got sequence %d", i, seq)
		}
	}
}

// readAll returns the records from sequence from on, checking each
// payload belongs to its sequence.
func readAll(t *testing.T, j *journal.Journal, from uint64) []uint64 {
	t.Helper()
	var seqs []uint64
	err := j.Read(from, func(seq uint64, p []byte) bool {
		if string(p) != fmt.Sprintf("record %d", seq) {
			t.Fatalf("sequence %d holds %q", seq, p)
		}
		seqs = append(seqs, seq)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return seqs
}

func segments(t *testing.T, dir string) int {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	return len(m)
}

// Records come back in order across segments and restarts, and the
// sequence goes on where it stopped.
func TestAppendReopenRead(t *testing.T) {
	dir := t.TempDir()
	j := open(t, dir, 512)
	appendN(t, j, 1, 301)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if n := segments(t, dir); n < 5 {
		t.Fatalf("%d segments of 512 bytes for 300 records", n)
	}
	j = open(t, dir, 512)
	if j.Next() != 301 || j.First() != 1 {
		t.Fatalf("reopened at next %d, first %d", j.Next(), j.First())
	}
	appendN(t, j, 301, 401)
	seqs := readAll(t, j, 1)
	if len(seqs) != 400 || seqs[0] != 1 || seqs[399] != 400 {
		t.Fatalf("read %d records: %v…", len(seqs), seqs[:min(5, len(seqs))])
	}
	if seqs := readAll(t, j, 250); len(seqs) != 151 || seqs[0] != 250 {
		t.Fatalf("read from 250: %d records starting %v", len(seqs), seqs[:1])
	}
	var n int
	_ = j.Read(1, func(uint64, []byte) bool { n++; return n < 10 })
	if n != 10 {
		t.Fatalf("fn returning false did not stop the read: %d", n)
	}
}

// A crash in the middle of a write leaves half a record: it is cut off at
// open and appends go on after the last whole one.
func TestTornTailIsCut(t *testing.T) {
	dir := t.TempDir()
	j := open(t, dir, 0)
	appendN(t, j, 1, 11)
	j.Close()
	m, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	f, err := os.OpenFile(m[0], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The header of record 11 claiming 40 bytes, and only 3 of them.
	f.Write([]byte{40, 0, 0, 0, 1, 2, 3, 4, 11, 0, 0, 0, 0, 0, 0, 0, 'r', 'e', 'c'})
	f.Close()
	j = open(t, dir, 0)
	if j.Next() != 11 {
		t.Fatalf("next %d after a torn record 11", j.Next())
	}
	appendN(t, j, 11, 13)
	if seqs := readAll(t, j, 1); len(seqs) != 12 {
		t.Fatalf("read %v", seqs)
	}
}

// A record damaged in a sealed segment loses the rest of that segment,
// not the records after it.
func TestCorruptRecordSkipsItsSegmentOnly(t *testing.T) {
	dir := t.TempDir()
	j := open(t, dir, 200)
	appendN(t, j, 1, 41)
	j.Close()
	m, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	b, _ := os.ReadFile(m[0])
	b[len(b)-1] ^= 0xff // the last record of the first segment
	os.WriteFile(m[0], b, 0o640)
	j = open(t, dir, 200)
	seqs := readAll(t, j, 1)
	if len(seqs) != 39 || seqs[0] != 1 {
		t.Fatalf("read %d records: %v", len(seqs), seqs)
	}
}

// Truncate deletes the segments whose records are all stored elsewhere;
// nothing at or after the mark is lost.
func TestTruncate(t *testing.T) {
	dir := t.TempDir()
	j := open(t, dir, 256)
	appendN(t, j, 1, 201)
	before := segments(t, dir)
	if err := j.Truncate(150); err != nil {
		t.Fatal(err)
	}
	after := segments(t, dir)
	seqs := readAll(t, j, j.First())
	if after >= before || seqs[0] > 150 || seqs[len(seqs)-1] != 200 || j.First() != seqs[0] {
		t.Fatalf("segments %d → %d; kept %d…%d, first %d", before, after, seqs[0], seqs[len(seqs)-1], j.First())
	}
	if err := j.Truncate(201); err != nil {
		t.Fatal(err)
	}
	if n := segments(t, dir); n != 1 {
		t.Fatalf("the active segment alone should stay, %d do", n)
	}
	j.Close()
	j = open(t, dir, 256)
	if j.Next() != 201 {
		t.Fatalf("the sequence restarted at %d after truncation", j.Next())
	}
}

// Appends from many goroutines get distinct sequences, all readable, while
// Run group-commits beside them.
func TestConcurrentAppendsWithGroupCommit(t *testing.T) {
	j := open(t, t.TempDir(), 4096)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); j.Run(ctx) }()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				if _, err := j.Append([]byte(fmt.Sprintf("g%d-%d", g, i))); err != nil {
					t.Error(err)
					return
				}
				if i%50 == 0 {
					if err := j.Sync(); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	cancel()
	<-done
	seen := map[uint64]bool{}
	_ = j.Read(1, func(seq uint64, _ []byte) bool { seen[seq] = true; return true })
	if len(seen) != 1600 || !seen[1] || !seen[1600] {
		t.Fatalf("%d distinct records read", len(seen))
	}
	j.Close()
	if _, err := j.Append(nil); err != journal.ErrClosed {
		t.Fatalf("append after close: %v", err)
	}
}

// BenchmarkAppend is what an entry costs its caller (the AGI session):
// one write into the page cache.
//
//	go test -run '^$' -bench BenchmarkAppend ./journal/
func BenchmarkAppend(b *testing.B) {
	j, err := journal.Open(b.TempDir(), journal.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	p := make([]byte, 400)
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		if _, err := j.Append(p); err != nil {
			b.Fatal(err)
		}
	}
}
