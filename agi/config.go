package agi

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults for Config fields left at their zero value.
const (
	DefaultAddr           = ":4573"
	DefaultMaxSessions    = 1000
	DefaultMaxLineBytes   = 8 << 10
	DefaultMaxHeaderBytes = 64 << 10
	DefaultIdleTimeout    = 10 * time.Minute
	DefaultHeaderTimeout  = 5 * time.Second
	DefaultDrainTimeout   = 10 * time.Second
)

// minLineBytes keeps MaxLineBytes above what a real Asterisk header line or
// reply needs (agi_request carries a full URL; GET VARIABLE replies carry a
// value), so a misconfiguration cannot turn every call into a protocol error.
const minLineBytes = 256

// Config configures a Server. Zero fields take the Default* values.
type Config struct {
	// Addr is the TCP address to listen on (OMNICC_AGI_ADDR). Ignored when
	// Listener is set.
	Addr string
	// Listener, when set, is used instead of listening on Addr; Run closes
	// it when it returns. Tests pass a listener on 127.0.0.1:0.
	Listener net.Listener

	// MaxSessions caps concurrent sessions. A connection over the cap is
	// closed at once, so Asterisk goes on with the dialplan instead of
	// queueing behind a stuck daemon.
	MaxSessions int
	// MaxLineBytes caps one header or reply line, terminator included.
	MaxLineBytes int
	// MaxHeaderBytes caps the whole header block (and a multi-line 520
	// reply), bounding memory per session against a peer that never sends
	// the blank line.
	MaxHeaderBytes int

	// IdleTimeout is how long a session may wait for the peer, restarted on
	// every read and write. It is deliberately not a per-command deadline:
	// EXEC Dial or STREAM FILE legitimately take minutes.
	IdleTimeout time.Duration
	// HeaderTimeout bounds the whole header block: Asterisk writes it at
	// once, so a slow header is a broken or hostile peer.
	HeaderTimeout time.Duration
	// DrainTimeout is how long Run lets sessions in flight finish after its
	// context is cancelled before it closes them.
	DrainTimeout time.Duration

	// Logger receives the server's log lines; nil discards them.
	Logger *slog.Logger
	// Registerer receives the session metrics (omnicc_agi_sessions_*);
	// nil keeps them unexported.
	Registerer prometheus.Registerer
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.MaxSessions == 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	if c.MaxLineBytes == 0 {
		c.MaxLineBytes = DefaultMaxLineBytes
	}
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.HeaderTimeout == 0 {
		c.HeaderTimeout = DefaultHeaderTimeout
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports every field of c that is out of range, after defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.MaxSessions < 1 {
		errs = append(errs, fmt.Errorf("agi config: MaxSessions is %d, want at least 1", c.MaxSessions))
	}
	if c.MaxLineBytes < minLineBytes {
		errs = append(errs, fmt.Errorf("agi config: MaxLineBytes is %d, want at least %d", c.MaxLineBytes, minLineBytes))
	}
	if c.MaxHeaderBytes < c.MaxLineBytes {
		errs = append(errs, fmt.Errorf("agi config: MaxHeaderBytes (%d) is below MaxLineBytes (%d)", c.MaxHeaderBytes, c.MaxLineBytes))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"IdleTimeout", c.IdleTimeout},
		{"HeaderTimeout", c.HeaderTimeout},
		{"DrainTimeout", c.DrainTimeout},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("agi config: %s is %s, want a positive duration", d.name, d.v))
		}
	}
	return errors.Join(errs...)
}
