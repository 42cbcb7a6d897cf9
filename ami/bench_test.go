package ami_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"omnicc/ami"
	"omnicc/ami/amitest"
)

// eventStream is the captured Events: on stream (banner left out), its
// message count and its event count (the rest are responses).
func eventStream(b *testing.B) ([]byte, int, int) {
	b.Helper()
	tr := amitest.LoadCapture(b, amitest.QueueEvents)
	msgs, err := tr.Messages(amitest.FromAsterisk)
	if err != nil {
		b.Fatal(err)
	}
	var stream []byte
	events := 0
	for _, m := range msgs {
		if stream, err = ami.AppendMessage(stream, m); err != nil {
			b.Fatal(err)
		}
		if m.IsEvent() {
			events++
		}
	}
	return stream, len(msgs), events
}

// BenchmarkParseEvents parses the captured queue scenario (382 messages,
// VarSet-heavy like real traffic) with one reused Reader.
func BenchmarkParseEvents(b *testing.B) {
	stream, n, _ := eventStream(b)
	src := bytes.NewReader(stream)
	r := ami.NewReader(bufio.NewReaderSize(src, 32<<10), ami.Limits{})
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		src.Reset(stream)
		r.Reset(src)
		got := 0
		for {
			_, err := r.ReadMessage()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			got++
		}
		if got != n {
			b.Fatalf("parsed %d messages, want %d", got, n)
		}
	}
	reportRates(b, float64(n)*float64(b.N), cpuTime()-cpu0)
	b.ReportMetric(float64(n), "events/op")
}

// reportRates reports events per wall-clock second and per CPU second of
// the whole process (GC included): on a shared machine the first depends on
// the neighbours, the second hardly.
func reportRates(b *testing.B, events float64, cpu time.Duration) {
	b.ReportMetric(events/b.Elapsed().Seconds(), "events/s")
	if cpu > 0 {
		b.ReportMetric(events/cpu.Seconds(), "events/cpu-s")
	}
}

// BenchmarkClientEvents measures what the state tracker will see: bytes on a
// connection read, parsed, routed and delivered to a subscriber that drains
// its channel on another goroutine.
func BenchmarkClientEvents(b *testing.B) {
	// Responses nobody waits for are dropped, so only events are counted.
	stream, _, n := eventStream(b)
	end := ami.NewMessage("Event", "BenchmarkEnd")
	endBytes, _ := ami.AppendMessage(nil, end)

	serverSide := make(chan net.Conn, 1)
	cfg := ami.Config{
		Addr: "bench:5038", Username: "u", Secret: "s",
		PingInterval: time.Hour, ActionTimeout: time.Minute,
		Logger: slog.New(slog.DiscardHandler),
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			client, server := net.Pipe()
			serverSide <- server
			return client, nil
		},
	}
	c, err := ami.NewClient(cfg)
	if err != nil {
		b.Fatal(err)
	}
	sub := c.Subscribe(1 << 16)
	defer sub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()

	conn := <-serverSide
	defer conn.Close()
	_, _ = io.WriteString(conn, amitest.Banner)
	login, err := ami.NewReader(conn, ami.Limits{}).ReadMessage()
	if err != nil {
		b.Fatal(err)
	}
	resp, _ := ami.AppendMessage(nil, amitest.Success("ActionID", login.ActionID(), "Message", "Authentication accepted"))
	if _, err := conn.Write(resp); err != nil {
		b.Fatal(err)
	}
	for !c.Connected() {
		time.Sleep(time.Millisecond)
	}
	// net.Pipe discards nothing, so the writer keeps pace with the reader;
	// the client drops Logoff on close, which the goroutine below absorbs.
	go func() { _, _ = io.Copy(io.Discard, conn) }()

	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	reps := b.N
	go func() {
		for range reps {
			if _, err := conn.Write(stream); err != nil {
				return
			}
		}
		_, _ = conn.Write(endBytes)
	}()
	got := 0
	for ev := range sub.Events() {
		if ev.Event() == "BenchmarkEnd" {
			break
		}
		got++
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	if got != n*reps {
		b.Fatalf("received %d events, want %d (%v)", got, n*reps, sub.Err())
	}
	reportRates(b, float64(got), cpu)
	b.ReportMetric(float64(n), "events/op")
}
