// Command failover measures how long a role takes to move from one omniccd
// instance to another through the database (package leader): two electors
// on their own connections campaign for one role; the holder's lock session
// is killed from a third connection (what MariaDB sees when the holder is
// kill -9'ed or its host vanishes with a reset) or the holder is stopped
// (SIGTERM), again and again, and it reports p50/p99/max of
//
//   - takeover: from the kill to the moment the role runs again (on the
//     other instance, or — after a KILL, the old holder being alive — on
//     whichever wins the lock);
//
//   - stopped:  from the kill to the moment the old holder's role has
//     stopped acting (its context cancelled and its run returned).
//
//     go run ./tools/failover -dsn 'root@tcp(127.0.0.1:3306)/test' -n 20
package main

import (
	"bufio"
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"omnicc/leader"
	"omnicc/store"
)

func main() {
	dsn := flag.String("dsn", "root@tcp(127.0.0.1:3306)/test", "MySQL/MariaDB DSN (the database must exist)")
	n := flag.Int("n", 20, "how many failovers")
	check := flag.Duration("check", leader.DefaultCheck, "the holder's check interval (leader.Options.Check)")
	mode := flag.String("mode", "kill", "kill: KILL the holder's lock session; stop: stop the holder as SIGTERM does; "+
		"crash: kill -9 a holder process")
	childRole := flag.String("child-role", "", "(internal) lead this role in a child process for -mode crash")
	flag.Parse()
	if *childRole != "" {
		child(*dsn, *childRole, *check)
		return
	}
	if *mode == "crash" {
		if err := crash(*dsn, *n, *check); err != nil {
			fmt.Fprintln(os.Stderr, "failover:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*dsn, *n, *check, *mode); err != nil {
		fmt.Fprintln(os.Stderr, "failover:", err)
		os.Exit(1)
	}
}

// instance is one elector with a role that reports when it starts and
// when it has stopped.
type instance struct {
	el      *leader.Elector
	cancel  context.CancelFunc
	done    chan struct{}
	started chan time.Time
	stopped chan time.Time
}

func start(ctx context.Context, dsn, name, role string, check time.Duration) (*instance, error) {
	db, err := store.Open(ctx, store.Options{DSN: dsn})
	if err != nil {
		return nil, err
	}
	el, err := leader.New(db, leader.Options{Instance: name, Check: check})
	if err != nil {
		db.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	in := &instance{el: el, cancel: cancel, done: make(chan struct{}), started: make(chan time.Time, 64), stopped: make(chan time.Time, 64)}
	go func() {
		defer close(in.done)
		defer db.Close()
		_ = el.Lead(ctx, role, func(ctx context.Context) error {
			in.started <- time.Now()
			<-ctx.Done()
			in.stopped <- time.Now()
			return nil
		})
	}()
	return in, nil
}

func run(dsn string, n int, check time.Duration, mode string) error {
	if mode != "kill" && mode != "stop" {
		return fmt.Errorf("-mode %q: kill or stop", mode)
	}
	ctx := context.Background()
	admin, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer admin.Close()
	var database string
	if err := admin.QueryRow(`SELECT DATABASE()`).Scan(&database); err != nil {
		return err
	}
	role := fmt.Sprintf("failover-measure-%d", os.Getpid())
	lock := leader.LockName(database, role)

	var ins []*instance
	defer func() {
		for _, in := range ins {
			in.cancel()
			<-in.done
		}
	}()
	for _, name := range []string{"a", "b"} {
		in, err := start(ctx, dsn, name, role, check)
		if err != nil {
			return err
		}
		ins = append(ins, in)
	}
	holderOf := func(timeout time.Duration) (*instance, *instance, error) {
		deadline := time.Now().Add(timeout)
		for time.Now().Before(deadline) {
			for i, in := range ins {
				if in.el.Leads(role) {
					return in, ins[1-i], nil
				}
			}
			time.Sleep(time.Millisecond)
		}
		return nil, nil, fmt.Errorf("nobody leads %s after %s", role, timeout)
	}
	var takeover, stopped []time.Duration
	var mu sync.Mutex
	for i := range n {
		holder, other, err := holderOf(30 * time.Second)
		if err != nil {
			return err
		}
		// Forget the starts and stops of earlier rounds.
		for _, in := range ins {
			drain(in.started)
			drain(in.stopped)
		}
		var t0 time.Time
		if mode == "kill" {
			var id int64
			if err := admin.QueryRow(`SELECT IS_USED_LOCK(?)`, lock).Scan(&id); err != nil {
				return fmt.Errorf("round %d: the lock has no holder: %w", i, err)
			}
			t0 = time.Now()
			if _, err := admin.Exec(`KILL ?`, id); err != nil {
				return err
			}
		} else {
			t0 = time.Now()
			holder.cancel()
		}
		select {
		case t := <-holder.stopped:
			mu.Lock()
			stopped = append(stopped, t.Sub(t0))
			mu.Unlock()
		case <-time.After(60 * time.Second):
			return fmt.Errorf("round %d: the old holder never stopped", i)
		}
		// After a KILL the old holder, alive, campaigns again too: the
		// role is back when either runs it.
		select {
		case t := <-other.started:
			takeover = append(takeover, t.Sub(t0))
		case t := <-holder.started:
			takeover = append(takeover, t.Sub(t0))
		case <-time.After(60 * time.Second):
			return fmt.Errorf("round %d: nobody took the role back", i)
		}
		if mode == "stop" {
			// Bring the stopped instance back as a new one for the next round.
			<-holder.done
			name := "a"
			if holder == ins[1] {
				name = "b"
			}
			in, err := start(ctx, dsn, name, role, check)
			if err != nil {
				return err
			}
			for j := range ins {
				if ins[j] == holder {
					ins[j] = in
				}
			}
		}
	}
	fmt.Printf("failover of one role between two instances, %d rounds, -mode %s, check %s\n", n, mode, check)
	report("takeover (kill/stop → the role runs again)", takeover)
	report("stopped  (kill/stop → the old holder stopped)", stopped)
	return nil
}

func drain(c chan time.Time) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

func report(what string, d []time.Duration) {
	slices.Sort(d)
	q := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))] }
	fmt.Printf("  %-45s p50 %8s  p99 %8s  max %8s\n", what, q(0.50).Round(time.Millisecond), q(0.99).Round(time.Millisecond), d[len(d)-1].Round(time.Millisecond))
}

// child leads role until it is killed, saying "leading" when it does.
func child(dsn, role string, check time.Duration) {
	in, err := start(context.Background(), dsn, "child", role, check)
	if err != nil {
		fmt.Fprintln(os.Stderr, "failover child:", err)
		os.Exit(1)
	}
	<-in.started
	fmt.Println("leading")
	<-in.done
}

// crash measures the takeover after a kill -9 of the holder's process.
func crash(dsn string, n int, check time.Duration) error {
	role := fmt.Sprintf("failover-crash-%d", os.Getpid())
	var takeover []time.Duration
	for i := range n {
		cmd := exec.Command(os.Args[0], "-dsn", dsn, "-check", check.String(), "-child-role", role)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return err
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil || strings.TrimSpace(line) != "leading" {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return fmt.Errorf("round %d: the child did not lead: %q %v", i, line, err)
		}
		in, err := start(context.Background(), dsn, "survivor", role, check)
		if err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return err
		}
		time.Sleep(300 * time.Millisecond) // the survivor is waiting in GET_LOCK
		t0 := time.Now()
		_ = cmd.Process.Kill()
		select {
		case t := <-in.started:
			takeover = append(takeover, t.Sub(t0))
		case <-time.After(60 * time.Second):
			return fmt.Errorf("round %d: the survivor never took over", i)
		}
		_ = cmd.Wait()
		in.cancel()
		<-in.done
	}
	fmt.Printf("failover of one role after kill -9 of its holder's process, %d rounds, check %s\n", n, check)
	report("takeover (kill -9 → the other runs the role)", takeover)
	return nil
}
