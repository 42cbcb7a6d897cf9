package ami_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"omnicc/ami"
	"omnicc/ami/amitest"
	"omnicc/calls"
)

// Issue 17 item 3: modules are checked at every (re)connect, the log says
// which controls are off and why, and Ready follows what Asterisk has now.
func TestVoiceChecksModulesAtEveryConnect(t *testing.T) {
	checkLeaks(t)
	srv := amitest.NewServer(t, testUser, testSecret)
	var mu sync.Mutex
	missing := "app_chanspy"
	srv.Handle("ModuleCheck", func(a ami.Message) []ami.Message {
		mu.Lock()
		defer mu.Unlock()
		if a.Get("Module") == missing || a.Get("Module") == "codec_opus" {
			return []ami.Message{amitest.Error("Module not loaded")}
		}
		return []ami.Message{amitest.Success("Version", "")}
	})
	logs := &syncBuffer{}
	pool, err := ami.NewPool([]ami.BoxConfig{{Addr: srv.Addr(), Username: testUser, Secret: testSecret}}, ami.Config{
		PingInterval: time.Hour, BackoffMin: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	v := ami.NewVoice(pool, slog.New(slog.NewTextHandler(logs, nil)))
	pool.OnConnect(v.CheckModules)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pool.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	waitLog := func(what string, n int) {
		t.Helper()
		for deadline := time.Now().Add(wait); strings.Count(logs.String(), what) < n; time.Sleep(2 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("log never had %q %d times:\n%s", what, n, logs.String())
			}
		}
	}
	waitLog("voice controls off", 1)
	if !strings.Contains(logs.String(), "no opus translator") {
		t.Fatalf("the log does not warn that codec_opus is missing:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "spy (app_chanspy not loaded)") {
		t.Fatalf("the log does not say which control is off and why:\n%s", logs.String())
	}
	err = v.Ready("", calls.ControlSpy)
	if !errors.Is(err, calls.ErrModuleMissing) || !strings.Contains(err.Error(), "app_chanspy") {
		t.Fatalf("Ready(spy) = %v", err)
	}
	if err := v.Ready("", calls.ControlRecording); err != nil {
		t.Fatalf("Ready(recording) = %v", err)
	}
	// Asterisk restarted with app_chanspy loaded but app_mixmonitor not.
	mu.Lock()
	missing = "app_mixmonitor"
	mu.Unlock()
	srv.Drop()
	waitLog("voice controls off", 2)
	if err := v.Ready(srv.Addr(), calls.ControlSpy); err != nil {
		t.Fatalf("after the reconnect Ready(spy) = %v", err)
	}
	if err := v.Ready(srv.Addr(), calls.ControlRecording); !errors.Is(err, calls.ErrModuleMissing) {
		t.Fatalf("after the reconnect Ready(recording) = %v", err)
	}
}
