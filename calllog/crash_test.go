package calllog_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"omnicc/calllog"
	"omnicc/journal"
	"omnicc/store"
	"omnicc/storetest"
)

// The crash test's child process is this test binary run again with these
// variables; it records entries through a journaled Log and waits to be
// killed.
const (
	envCrashChild   = "OMNICC_CALLLOG_CRASH_CHILD"
	envCrashDSN     = "OMNICC_CALLLOG_CRASH_DSN"
	envCrashDataDir = "OMNICC_CALLLOG_CRASH_DATADIR"
	envCrashJournal = "OMNICC_CALLLOG_CRASH_JOURNAL"
	envCrashEntries = "OMNICC_CALLLOG_CRASH_ENTRIES"
)

// Small segments, so that the crash leaves several and truncation shows.
const crashSegment = 64 << 10

// Every decision Record returned (so Asterisk had its answer) is in the
// database exactly once after kill -9 and a restart: the journal holds what
// the database had not taken, and its replay keeps the rows that the
// database had taken once.
func TestKill9LosesNoRecordedEntry(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		const n = 4000
		jdir := filepath.Join(t.TempDir(), "journal", "calllog")
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), envCrashChild+"=1", envCrashJournal+"="+jdir, envCrashEntries+"="+strconv.Itoa(n))
		if db.Dialect == store.SQLite {
			var seq int
			var name, file string
			if err := db.QueryRowContext(ctx, "PRAGMA database_list").Scan(&seq, &name, &file); err != nil {
				t.Fatal(err)
			}
			cmd.Env = append(cmd.Env, envCrashDataDir+"="+filepath.Dir(file))
		} else {
			cmd.Env = append(cmd.Env, envCrashDSN+"="+sameServer(t, db))
		}
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(out)
		var stored int
		for lines.Scan() {
			if s, ok := strings.CutPrefix(lines.Text(), "stored "); ok {
				stored, _ = strconv.Atoi(s)
			}
			if lines.Text() == "recorded" {
				break
			}
		}
		// kill -9, while the writer is still on the second half.
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		if stored == 0 {
			t.Fatal("the child never said it recorded its entries")
		}
		var before int
		if err := db.GetContext(ctx, &before, "SELECT COUNT(*) FROM call_log"); err != nil {
			t.Fatal(err)
		}
		t.Logf("%d of %d entries were in the database at kill -9", before, n)
		if before == n {
			t.Log("the writer had caught up before the kill; the test still checks the replay keeps rows once")
		}

		j, err := journal.Open(jdir, journal.Options{SegmentBytes: crashSegment})
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		l := calllog.New(db, calllog.Options{Journal: j})
		stop := run(t, l)
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := l.Flush(fctx); err != nil {
			t.Fatal(err)
		}
		stop()
		var total, distinct int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*), COUNT(DISTINCT uniqueid) FROM call_log").Scan(&total, &distinct); err != nil {
			t.Fatal(err)
		}
		if total != n || distinct != n {
			t.Fatalf("after the restart: %d rows, %d distinct entries; want %d of each", total, distinct, n)
		}
		var missing int
		for i := range n {
			var c int
			if err := db.GetContext(ctx, &c, "SELECT COUNT(*) FROM call_log WHERE uniqueid = ?", fmt.Sprintf("crash.%d", i)); err != nil {
				t.Fatal(err)
			}
			if c != 1 {
				missing++
			}
		}
		if missing > 0 {
			t.Fatalf("%d entries not stored exactly once", missing)
		}
		if segs, _ := filepath.Glob(filepath.Join(jdir, "*.log")); len(segs) > 1 {
			t.Fatalf("the journal kept %d segments after the database took every entry", len(segs))
		}
	})
}

// sameServer is the DSN of db's MariaDB database.
func sameServer(t testing.TB, db *store.DB) string {
	t.Helper()
	base := os.Getenv("OMNICC_TEST_MYSQL")
	if base == "" {
		base = storetest.DefaultMySQL
	}
	cfg, err := mysql.ParseDSN(base)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.GetContext(context.Background(), &cfg.DBName, "SELECT DATABASE()"); err != nil {
		t.Fatal(err)
	}
	return cfg.FormatDSN()
}

// TestCrashChild is the child of TestKill9LosesNoRecordedEntry: it stores
// half its entries, records the other half and says so, then waits for
// the kill.
func TestCrashChild(t *testing.T) {
	if os.Getenv(envCrashChild) == "" {
		t.Skip("run by TestKill9LosesNoRecordedEntry")
	}
	ctx := context.Background()
	db, err := store.Open(ctx, store.Options{DSN: os.Getenv(envCrashDSN), DataDir: os.Getenv(envCrashDataDir)})
	if err != nil {
		t.Fatal(err)
	}
	j, err := journal.Open(os.Getenv(envCrashJournal), journal.Options{SegmentBytes: crashSegment})
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(os.Getenv(envCrashEntries))
	// Small batches, so that the writer is still busy at the kill.
	l := calllog.New(db, calllog.Options{Journal: j, BatchSize: 10, MaxBatch: 10})
	go l.Run(ctx) //nolint — killed with the process, by design
	entry := func(i int) calllog.Entry {
		return calllog.Entry{At: t0.Add(time.Duration(i) * time.Millisecond), Direction: calllog.Inbound,
			UniqueID: fmt.Sprintf("crash.%d", i), Caller: "0612345678", DID: "0699999999", Route: "main", DestType: "queue", Dest: "sales"}
	}
	for i := range n / 2 {
		l.Record(entry(i))
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("stored %d\n", n/2)
	for i := n / 2; i < n; i++ {
		l.Record(entry(i))
	}
	fmt.Println("recorded")
	select {}
}
