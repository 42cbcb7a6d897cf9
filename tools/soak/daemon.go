package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// daemon is an omniccd the soak started and owns.
type daemon struct {
	bin     string
	env     []string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed when cmd has been waited for
	starts  int
}

// freePort asks the kernel for an unused loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// strongPassword satisfies OMNICC_SECURITY_SUITE: upper, lower, digit, symbol.
func strongPassword() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "Soak-" + hex.EncodeToString(b) + "-Pw9"
}

func newDaemon(bin, dataDir, dsn, httpAddr, agiAddr, adminPassword string) *daemon {
	env := os.Environ()
	env = append(env,
		"OMNICC_HTTP_ADDR="+httpAddr,
		"OMNICC_AGI_ADDR="+agiAddr,
		"OMNICC_DATA_DIR="+dataDir,
		"OMNICC_DB_DSN="+dsn,
		"OMNICC_ADMIN_PASSWORD="+adminPassword,
		"OMNICC_AMI=",
		"OMNICC_REALTIME_ALLOW=127.0.0.0/8,::1/128",
		"OMNICC_REALTIME_USER=",
		"OMNICC_REALTIME_PASSWORD=",
		"OMNICC_PUBLIC_URL=http://"+httpAddr,
	)
	return &daemon{bin: bin, env: env, logPath: filepath.Join(dataDir, "omniccd.log")}
}

// start runs omniccd serve with its output appended to the log file.
func (d *daemon) start() error {
	f, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "=== soak: start %d at %s ===\n", d.starts+1, time.Now().UTC().Format(time.RFC3339Nano))
	cmd := exec.Command(d.bin, "serve")
	cmd.Env = d.env
	cmd.Stdout, cmd.Stderr = f, f
	// Its own process group, so a ^C to the soak reaches omniccd only
	// through the soak's own SIGTERM.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", d.bin, err)
	}
	d.starts++
	d.cmd = cmd
	done := make(chan struct{})
	d.done = done
	go func() {
		cmd.Wait()
		f.Close()
		close(done)
	}()
	return nil
}

func (d *daemon) pid() int {
	if d.cmd == nil || d.cmd.Process == nil {
		return 0
	}
	return d.cmd.Process.Pid
}

// waitReady polls /readyz until it answers 200.
func (d *daemon) waitReady(ctx context.Context, c *client, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		if c.ready(ctx) {
			return time.Since(start), nil
		}
		select {
		case <-d.done:
			return 0, fmt.Errorf("omniccd exited before it was ready (see %s)", d.logPath)
		case <-ctx.Done():
			return 0, fmt.Errorf("omniccd not ready after %s (see %s)", limit, d.logPath)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (d *daemon) kill() error {
	if d.cmd == nil {
		return errors.New("no omniccd running")
	}
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	<-d.done
	return nil
}

// stop sends SIGTERM and waits, up to limit, then SIGKILL.
func (d *daemon) stop(limit time.Duration) error {
	if d.cmd == nil {
		return nil
	}
	select {
	case <-d.done:
		return nil
	default:
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-d.done:
		return nil
	case <-time.After(limit):
		d.cmd.Process.Signal(syscall.SIGKILL)
		<-d.done
		return fmt.Errorf("omniccd did not stop within %s of SIGTERM; killed", limit)
	}
}
