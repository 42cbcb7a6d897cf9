package storetest

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"

	"github.com/go-sql-driver/mysql"

	"omnicc/store"
)

// StallProxy is a TCP proxy between omniccd's pools and MariaDB that can
// stop forwarding, the way a SIGSTOPped server behaves: connections are
// still accepted (the kernel does that for a stopped process too) and bytes
// are still read, but nothing reaches the other side until Thaw. It is a
// real listener, so the driver, the pools and their timeouts all run as
// they do against a stalled server.
type StallProxy struct {
	ln     net.Listener
	target string
	ctx    context.Context // ended by close
	stop   context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	open  chan struct{} // closed while forwarding
	conns map[net.Conn]struct{}
}

// NewStallProxy listens on a loopback port and forwards to target; it is
// closed, with every connection it holds, when the test ends.
func NewStallProxy(t testing.TB, target string) *StallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("stall proxy: listen: %v", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	p := &StallProxy{ln: ln, target: target, ctx: ctx, stop: stop, open: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	close(p.open)
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// Addr is the proxy's host:port.
func (p *StallProxy) Addr() string { return p.ln.Addr().String() }

// Freeze stops forwarding: every byte sent either way is held.
func (p *StallProxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
		p.open = make(chan struct{})
	default:
	}
}

// Thaw forwards again, held bytes first.
func (p *StallProxy) Thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
	default:
		close(p.open)
	}
}

// gate returns once forwarding is on; false when the proxy is closing.
func (p *StallProxy) gate() bool {
	p.mu.Lock()
	open := p.open
	p.mu.Unlock()
	select {
	case <-open:
		return true
	case <-p.ctx.Done():
		return false
	}
}

func (p *StallProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *StallProxy) serve(client net.Conn) {
	defer p.wg.Done()
	var d net.Dialer
	server, err := d.DialContext(p.ctx, "tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	if !p.track(client, server) {
		return
	}
	var pair sync.WaitGroup
	pair.Add(2)
	go func() { defer pair.Done(); p.pipe(server, client) }()
	go func() { defer pair.Done(); p.pipe(client, server) }()
	pair.Wait()
	p.mu.Lock()
	delete(p.conns, client)
	delete(p.conns, server)
	p.mu.Unlock()
}

// track registers the pair for close; false (both closed) when closing.
func (p *StallProxy) track(a, b net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.ctx.Done():
		a.Close()
		b.Close()
		return false
	default:
	}
	p.conns[a], p.conns[b] = struct{}{}, struct{}{}
	return true
}

// pipe copies src to dst, holding each chunk while frozen; closing either
// side ends both, as a real peer's close would.
func (p *StallProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.gate() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *StallProxy) close() {
	p.stop()
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// StallableMariaDBDSN creates a fresh, migrated MariaDB database and
// returns a DSN that reaches it through a StallProxy, for a daemon to open.
func StallableMariaDBDSN(t testing.TB) (string, *StallProxy) {
	t.Helper()
	dsn := MariaDBDSN(t)
	direct, err := store.Open(context.Background(), store.Options{DSN: dsn})
	if err != nil {
		t.Fatalf("open mariadb: %v", err)
	}
	if _, err := direct.Migrate(context.Background()); err != nil {
		direct.Close()
		t.Fatalf("migrate mariadb: %v", err)
	}
	direct.Close()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := NewStallProxy(t, cfg.Addr)
	cfg.Addr = proxy.Addr()
	return cfg.FormatDSN(), proxy
}

// StallableMariaDB opens a fresh, migrated MariaDB database through a
// StallProxy, with the given pool sizes (nil: the defaults).
func StallableMariaDB(t testing.TB, sizes map[string]int) (*store.DB, *StallProxy) {
	t.Helper()
	dsn, proxy := StallableMariaDBDSN(t)
	db, err := store.Open(context.Background(), store.Options{DSN: dsn, PoolSizes: sizes})
	if err != nil {
		t.Fatalf("open mariadb through the stall proxy: %v", err)
	}
	// Closed before the proxy (cleanups run last-in first-out), with the
	// proxy thawed so that the pools' goodbyes are not held.
	t.Cleanup(func() {
		proxy.Thaw()
		if err := db.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			t.Logf("close mariadb: %v", err)
		}
	})
	return db, proxy
}
