package ami

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"omnicc/clock"
)

// Clock is the time source of a Client, so tests can drive keepalive and
// backoff without sleeping.
type Clock = clock.Clock

// DialFunc opens the TCP connection to a box; net.Dialer.DialContext fits.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Config describes one Asterisk box. Addr, Username and Secret are required:
// there are no default credentials.
type Config struct {
	Addr     string // host:port of manager.conf's listener
	Username string // manager.conf section name
	Secret   string
	// Box names the box in logs and events; defaults to Addr.
	Box string

	// PingInterval is how often an idle connection is probed with Ping; a
	// Ping not answered within ActionTimeout drops and reopens it. Default 15s.
	PingInterval time.Duration
	// ActionTimeout bounds the wait for a reply when the caller's context
	// has no deadline (a deadline on the context wins). Default 10s.
	ActionTimeout time.Duration
	// DialTimeout bounds connecting, reading the banner and logging in.
	// Default 10s.
	DialTimeout time.Duration
	// BackoffMin and BackoffMax bound the jittered exponential wait between
	// connection attempts. Defaults 500ms and 30s.
	BackoffMin, BackoffMax time.Duration
	// Limits bound what the reader accepts from the peer.
	Limits Limits

	// BootWait bounds how long OnConnect waits, after a login, for
	// Asterisk's FullyBooted event. Asterisk accepts manager logins while it
	// is still loading modules (QueueStatus is then an "Invalid/unknown
	// command"); it sends FullyBooted at login when it has booted, or to
	// every session when it finishes. A manager user without read=system
	// never gets it: OnConnect then runs after BootWait, with a warning.
	// Default 30s.
	BootWait time.Duration

	// OnConnect runs after every successful login (once Asterisk says it is
	// fully booted, see BootWait), in its own goroutine and
	// with a context that ends with the connection. Events keep flowing and
	// actions work while it runs: this is where the state tracker resyncs
	// (QueueStatus, CoreShowChannels, DeviceStateList) and reconciles. If it
	// returns an error the connection is dropped and reopened after backoff,
	// so that state is never left unsynced.
	OnConnect func(ctx context.Context, c *Client) error
	// OnDisconnect runs after a logged-in connection ended, with the reason.
	// It must not block: the reconnect waits for it.
	OnDisconnect func(c *Client, err error)

	// Metrics, if set, counts this box's events, actions and logins.
	Metrics *Metrics

	Logger *slog.Logger // default slog.Default()
	Dial   DialFunc     // default a net.Dialer
	Clock  Clock        // default the wall clock
}

// LogValue masks the secret, so a Config can be logged whole.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("box", c.Box), slog.String("addr", c.Addr),
		slog.String("username", c.Username), slog.String("secret", "***"),
		slog.Duration("ping_interval", c.PingInterval), slog.Duration("action_timeout", c.ActionTimeout),
	)
}

// envName is the variable operators set the boxes in; errors point at it.
const envName = "OMNICC_AMI"

// Validate reports the first problem with c, naming what to set.
func (c Config) Validate() error {
	if c.Addr == "" {
		return fmt.Errorf("ami: no Asterisk manager address; set %s=user:secret@host:5038", envName)
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("ami: manager address %q is not host:port (%v); fix it in %s", c.Addr, err, envName)
	}
	if c.Username == "" || c.Secret == "" {
		return fmt.Errorf("ami: no manager username or secret for %s; set %s=user:secret@%s (the user of a manager.conf section; there are no default credentials)",
			c.Addr, envName, c.Addr)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"PingInterval", c.PingInterval}, {"ActionTimeout", c.ActionTimeout}, {"DialTimeout", c.DialTimeout},
		{"BootWait", c.BootWait}, {"BackoffMin", c.BackoffMin}, {"BackoffMax", c.BackoffMax},
	} {
		if d.v < 0 {
			return fmt.Errorf("ami: %s is negative (%s); use a positive duration or 0 for the default", d.name, d.v)
		}
	}
	if c.BackoffMin > 0 && c.BackoffMax > 0 && c.BackoffMin > c.BackoffMax {
		return errors.New("ami: BackoffMin is larger than BackoffMax; swap them")
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Box == "" {
		c.Box = c.Addr
	}
	if c.PingInterval == 0 {
		c.PingInterval = 15 * time.Second
	}
	if c.ActionTimeout == 0 {
		c.ActionTimeout = 10 * time.Second
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 10 * time.Second
	}
	if c.BootWait == 0 {
		c.BootWait = 30 * time.Second
	}
	if c.BackoffMin == 0 {
		c.BackoffMin = 500 * time.Millisecond
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = 30 * time.Second
	}
	if c.BackoffMin > c.BackoffMax {
		c.BackoffMin = c.BackoffMax
	}
	c.Limits = c.Limits.withDefaults()
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Dial == nil {
		c.Dial = (&net.Dialer{}).DialContext
	}
	if c.Clock == nil {
		c.Clock = clock.Wall
	}
	return c
}
