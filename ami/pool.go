package ami

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
)

// DefaultPort is manager.conf's default port, used when an OMNICC_AMI entry
// gives none.
const DefaultPort = "5038"

// BoxConfig is one entry of OMNICC_AMI.
type BoxConfig struct {
	Addr     string // host:port
	Username string
	Secret   string
}

// String masks the secret, so a box can be logged.
func (b BoxConfig) String() string { return b.Username + ":***@" + b.Addr }

// ParseBoxes parses OMNICC_AMI: comma-separated `user:secret@host[:port]`
// entries, one per Asterisk box. The user ends at the first ':' and the host
// starts after the last '@', so a secret may contain both. An empty string
// means no box. Errors name OMNICC_AMI and the entry, with its secret masked.
func ParseBoxes(s string) ([]BoxConfig, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var boxes []BoxConfig
	seen := make(map[string]int)
	for i, raw := range strings.Split(s, ",") {
		n := i + 1
		entry := strings.TrimSpace(raw)
		bad := func(why string) error {
			return fmt.Errorf("%s entry %d %q: %s; each entry is user:secret@host:port, entries separated by commas",
				envName, n, maskEntry(entry), why)
		}
		if entry == "" {
			return nil, bad("empty entry (stray comma?)")
		}
		at := strings.LastIndexByte(entry, '@')
		if at < 0 {
			return nil, bad("no '@' between credentials and host")
		}
		cred, hostport := entry[:at], entry[at+1:]
		user, secret, ok := strings.Cut(cred, ":")
		if !ok {
			return nil, bad("no ':' between user and secret")
		}
		if user == "" {
			return nil, bad("empty user (the manager.conf section name)")
		}
		if secret == "" {
			return nil, bad("empty secret (there are no default credentials)")
		}
		addr, err := normalizeHostPort(hostport)
		if err != nil {
			return nil, bad(err.Error())
		}
		if prev, dup := seen[addr]; dup {
			return nil, bad(fmt.Sprintf("box %s already listed as entry %d", addr, prev))
		}
		seen[addr] = n
		boxes = append(boxes, BoxConfig{Addr: addr, Username: user, Secret: secret})
	}
	return boxes, nil
}

// normalizeHostPort accepts host, host:port, [v6] and [v6]:port.
func normalizeHostPort(hp string) (string, error) {
	if hp == "" {
		return "", fmt.Errorf("empty host")
	}
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		// No port: a bare name, IPv4 or bracketed IPv6.
		host, port = hp, DefaultPort
		if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
			host = host[1 : len(host)-1]
		}
		if strings.ContainsAny(host, "[]") || (strings.Contains(host, ":") && net.ParseIP(host) == nil) {
			return "", fmt.Errorf("host %q is not host or host:port", hp)
		}
	}
	if host == "" {
		return "", fmt.Errorf("empty host")
	}
	if strings.ContainsAny(host, " /") {
		return "", fmt.Errorf("host %q contains a space or '/'", host)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return "", fmt.Errorf("port %q is not a number from 1 to 65535", port)
	}
	return net.JoinHostPort(host, port), nil
}

// maskEntry hides the secret of an entry quoted in an error.
func maskEntry(entry string) string {
	at := strings.LastIndexByte(entry, '@')
	if at < 0 {
		// Without '@' we cannot tell the secret from the host: show the
		// part before any ':' only.
		if user, _, ok := strings.Cut(entry, ":"); ok {
			return user + ":***"
		}
		return entry
	}
	cred := entry[:at]
	if user, _, ok := strings.Cut(cred, ":"); ok {
		return user + ":***" + entry[at:]
	}
	return entry
}

// Pool runs one Client per box of OMNICC_AMI. Events are tagged with the box
// they came from (Event.Box is the box's host:port).
type Pool struct {
	clients []*Client
	byBox   map[string]*Client

	mu    sync.Mutex
	hooks []func(ctx context.Context, c *Client) error
}

// NewPool builds a client per box; base supplies everything but the address
// and credentials (timeouts, hooks, logger, dialer, clock). Box is set to the
// box's host:port.
func NewPool(boxes []BoxConfig, base Config) (*Pool, error) {
	p := &Pool{byBox: make(map[string]*Client, len(boxes))}
	if base.OnConnect != nil {
		p.hooks = append(p.hooks, base.OnConnect)
	}
	for _, b := range boxes {
		cfg := base
		cfg.OnConnect = p.connected
		cfg.Addr, cfg.Username, cfg.Secret, cfg.Box = b.Addr, b.Username, b.Secret, b.Addr
		c, err := NewClient(cfg)
		if err != nil {
			return nil, fmt.Errorf("box %s: %w", b, err)
		}
		if _, dup := p.byBox[c.Box()]; dup {
			return nil, fmt.Errorf("%s lists box %s twice; remove one", envName, c.Box())
		}
		p.clients = append(p.clients, c)
		p.byBox[c.Box()] = c
	}
	return p, nil
}

// OnConnect adds hook to what runs after every login of every client, as
// Config.OnConnect does (its error drops the connection, which is reopened).
// Components built after the pool register here — the Tracker its resync —
// so the pool needs none of them to be built. Call it before Run.
func (p *Pool) OnConnect(hook func(ctx context.Context, c *Client) error) {
	p.mu.Lock()
	p.hooks = append(p.hooks, hook)
	p.mu.Unlock()
}

// connected runs the hooks in the order they were added; the first error
// stops them.
func (p *Pool) connected(ctx context.Context, c *Client) error {
	p.mu.Lock()
	hooks := p.hooks
	p.mu.Unlock()
	for _, h := range hooks {
		if err := h(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// Run runs every client until ctx ends and returns once all have stopped.
// With no box (OMNICC_AMI empty) it just waits for ctx, like a pool whose
// boxes are all down, so that main treats both alike.
func (p *Pool) Run(ctx context.Context) error {
	if len(p.clients) == 0 {
		<-ctx.Done()
		return nil
	}
	var wg sync.WaitGroup
	errs := make([]error, len(p.clients))
	for i, c := range p.clients {
		wg.Go(func() { errs[i] = c.Run(ctx) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Configured reports whether OMNICC_AMI named any box: without one every
// action fails with ErrNotConfigured rather than ErrNotConnected.
func (p *Pool) Configured() bool { return len(p.clients) > 0 }

// Clients returns the clients in OMNICC_AMI order.
func (p *Pool) Clients() []*Client { return append([]*Client(nil), p.clients...) }

// Client returns the client of a box (its host:port), nil if unknown.
func (p *Pool) Client(box string) *Client { return p.byBox[box] }

// Subscribe returns one subscription to the events of every box. An overflow
// ends it for all boxes at once: the subscriber resyncs every box.
func (p *Pool) Subscribe(buffer int) *Subscription {
	s := newSubscription(buffer)
	for _, c := range p.clients {
		c.events.add(s)
	}
	return s
}
