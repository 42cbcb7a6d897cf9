// Package config is omniccd's configuration: one typed struct filled from the
// OMNICC_* environment, with defaults and a Validate whose errors name the key.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// Config is everything omniccd reads from its environment.
type Config struct {
	HTTPAddr string `env:"OMNICC_HTTP_ADDR" envDefault:":8080"`
	AGIAddr  string `env:"OMNICC_AGI_ADDR" envDefault:":4573"`
	DataDir  string `env:"OMNICC_DATA_DIR" envDefault:"./data"`
	// DBDSN selects MySQL/MariaDB; empty means the embedded SQLite store.
	DBDSN         string `env:"OMNICC_DB_DSN"`
	AdminPassword string `env:"OMNICC_ADMIN_PASSWORD"`
	// AMI is the raw comma-separated user:secret@host:port list; the ami
	// package parses it into boxes.
	AMI            string         `env:"OMNICC_AMI"`
	ExtensionRange ExtensionRange `env:"OMNICC_EXTENSION_RANGE" envDefault:"1000-1999"`
	RealtimeAllow  PrefixList     `env:"OMNICC_REALTIME_ALLOW" envDefault:"127.0.0.0/8,::1/128"`
	// RealtimeUser/RealtimePassword turn on HTTP basic auth for /realtime.
	RealtimeUser     string `env:"OMNICC_REALTIME_USER"`
	RealtimePassword string `env:"OMNICC_REALTIME_PASSWORD"`

	// CountryCode, TrunkPrefix and InternationalPrefix say how caller
	// numbers are normalised before they are looked up in the contacts
	// (e.g. 39, 0, 00: "06 1234567", "+39 06 1234567" and "0039061234567"
	// are one number). An empty CountryCode keeps numbers as dialled.
	CountryCode         string `env:"OMNICC_COUNTRY_CODE"`
	TrunkPrefix         string `env:"OMNICC_TRUNK_PREFIX"`
	InternationalPrefix string `env:"OMNICC_INTERNATIONAL_PREFIX" envDefault:"00"`

	// LockoutThreshold is how many failed logins in a row lock an account.
	LockoutThreshold int `env:"OMNICC_LOCKOUT_THRESHOLD" envDefault:"5"`
	// SecuritySuite turns the password policy on (the seeds' default).
	SecuritySuite bool          `env:"OMNICC_SECURITY_SUITE" envDefault:"true"`
	TokenTTL      time.Duration `env:"OMNICC_TOKEN_TTL" envDefault:"12h"`
	InvitationTTL time.Duration `env:"OMNICC_INVITATION_TTL" envDefault:"72h"`
	// PublicURL is where users reach omniccd; invitation links start with it.
	// Empty: http://<host of OMNICC_HTTP_ADDR, localhost for all
	// interfaces>:<its port>, so a daemon moved to :9090 does not send links
	// to :8080.
	PublicURL string `env:"OMNICC_PUBLIC_URL"`
	// WSOrigins are browser origins allowed to open the websocket besides
	// OMNICC_PUBLIC_URL and the server's own host: an agent desktop served
	// from another address. Browsers send Origin and omniccd refuses
	// others, so a page elsewhere cannot use a logged-in user's token.
	WSOrigins []string `env:"OMNICC_WS_ORIGINS" envSeparator:","`
	// TrustedProxies are the proxies whose X-Forwarded-For is believed; none
	// by default, so a client cannot forge its address.
	TrustedProxies PrefixList `env:"OMNICC_TRUSTED_PROXIES"`
	MaxBodyBytes   int64      `env:"OMNICC_HTTP_MAX_BODY" envDefault:"1048576"`
	// ShutdownTimeout bounds the graceful drain on SIGTERM.
	ShutdownTimeout time.Duration `env:"OMNICC_SHUTDOWN_TIMEOUT" envDefault:"15s"`

	// JournalDir holds the journals of the write-behind buffers (the call
	// log's in calllog/), which keep what the database has not yet taken
	// across a crash; empty means OMNICC_DATA_DIR/journal.
	JournalDir string `env:"OMNICC_JOURNAL_DIR"`
	// JournalSync is how often the journals are fsynced: the most a power
	// cut can lose (a kill -9 loses nothing once the call is answered).
	JournalSync time.Duration `env:"OMNICC_JOURNAL_SYNC" envDefault:"100ms"`
	// DBPool* cap each subsystem's MySQL connections (SQLite keeps one
	// pool of 8), so a busy or stalled one cannot starve the others.
	DBPoolREST     int `env:"OMNICC_DB_POOL_REST" envDefault:"16"`
	DBPoolRealtime int `env:"OMNICC_DB_POOL_REALTIME" envDefault:"16"`
	DBPoolAGI      int `env:"OMNICC_DB_POOL_AGI" envDefault:"24"`
	DBPoolWriters  int `env:"OMNICC_DB_POOL_WRITERS" envDefault:"8"`
	// HTTPDBTimeout bounds one REST request that uses the database: a
	// backstop for what the health monitor cannot see (one table locked);
	// stalls are failed within a second by the monitor, not by this.
	HTTPDBTimeout time.Duration `env:"OMNICC_HTTP_DB_TIMEOUT" envDefault:"30s"`
	// DBPingTimeout is how long the health monitor's ping may take before
	// the database counts as down (store.DefaultHealthTimeout).
	DBPingTimeout time.Duration `env:"OMNICC_DB_PING_TIMEOUT" envDefault:"500ms"`

	// InstanceID names this instance when several share one MySQL: in
	// /readyz, the logs and the event fan-out. Empty: the host name. Two
	// instances must never share one (each drops its own echoes by it).
	InstanceID string `env:"OMNICC_INSTANCE_ID"`
	// NATSURL turns on the event fan-out between instances over NATS
	// (nats://host:4222, a comma-separated list for a cluster). Empty:
	// off, one instance.
	NATSURL string `env:"OMNICC_NATS_URL"`
	// WhatsAppRetention: WhatsApp messages (and their media files) older
	// than this are purged nightly; 0 keeps everything.
	WhatsAppRetention time.Duration `env:"OMNICC_WHATSAPP_RETENTION" envDefault:"0s"`
	// WindowWarning is how long before a WhatsApp 24-hour window closes the
	// agent holding the conversation is warned.
	WindowWarning time.Duration `env:"OMNICC_WINDOW_WARNING" envDefault:"1h"`

	LogLevel  slog.Level `env:"OMNICC_LOG_LEVEL" envDefault:"info"`
	LogFormat string     `env:"OMNICC_LOG_FORMAT" envDefault:"text"`
}

// FromEnv reads the process environment and validates it.
func FromEnv() (Config, error) { return FromMap(nil) }

// FromMap reads the given variables (nil: the process environment) and
// validates them. Tests use it to avoid touching the real environment.
func FromMap(vars map[string]string) (Config, error) {
	var c Config
	opts := env.Options{}
	if vars != nil {
		opts.Environment = vars
	}
	if err := env.ParseWithOptions(&c, opts); err != nil {
		return c, cleanEnvError(err)
	}
	if c.PublicURL == "" {
		c.PublicURL = publicURLFor(c.HTTPAddr)
	}
	if c.InstanceID == "" {
		c.InstanceID, _ = os.Hostname()
	}
	return c, c.Validate()
}

// publicURLFor is the URL a browser on this host reaches addr at; "" when
// addr is not host:port (Validate names OMNICC_HTTP_ADDR then).
func publicURLFor(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://localhost:8080"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// cleanEnvError rewrites the library's errors, which name the Go field, so
// that they name the environment variable the user has to fix.
func cleanEnvError(err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return fmt.Errorf("config: %w", err)
	}
	keys := map[string]string{}
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		keys[t.Field(i).Name] = t.Field(i).Tag.Get("env")
	}
	msgs := make([]string, 0, len(agg.Errors))
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) && keys[pe.Name] != "" {
			msgs = append(msgs, fmt.Sprintf("%s: %v", keys[pe.Name], pe.Err))
			continue
		}
		msgs = append(msgs, e.Error())
	}
	return fmt.Errorf("config: %s", strings.Join(msgs, "; "))
}

// Validate checks the values that parsing alone cannot, naming the key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...)))
	}
	for key, addr := range map[string]string{"OMNICC_HTTP_ADDR": c.HTTPAddr, "OMNICC_AGI_ADDR": c.AGIAddr} {
		if _, port, err := net.SplitHostPort(addr); err != nil {
			bad(key, "%q is not host:port (e.g. :8080 or 127.0.0.1:8080)", addr)
		} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			bad(key, "port %q must be 0-65535", port)
		}
	}
	if c.DBDSN == "" && c.DataDir == "" {
		bad("OMNICC_DATA_DIR", "must not be empty when OMNICC_DB_DSN is not set")
	}
	if c.LockoutThreshold < 1 {
		bad("OMNICC_LOCKOUT_THRESHOLD", "%d must be at least 1", c.LockoutThreshold)
	}
	if c.TokenTTL < time.Minute {
		bad("OMNICC_TOKEN_TTL", "%s is shorter than a minute", c.TokenTTL)
	}
	if c.InvitationTTL < time.Minute {
		bad("OMNICC_INVITATION_TTL", "%s is shorter than a minute", c.InvitationTTL)
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("OMNICC_PUBLIC_URL", "%q must be an absolute http(s) URL", c.PublicURL)
	}
	for _, o := range c.WSOrigins {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		if u, err := url.Parse(o); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			bad("OMNICC_WS_ORIGINS", "%q must be an origin, scheme://host[:port] (http or https, no path)", o)
		}
	}
	if c.MaxBodyBytes < 1024 {
		bad("OMNICC_HTTP_MAX_BODY", "%d bytes is too small (at least 1024)", c.MaxBodyBytes)
	}
	if (c.RealtimeUser == "") != (c.RealtimePassword == "") {
		bad("OMNICC_REALTIME_USER", "set both OMNICC_REALTIME_USER and OMNICC_REALTIME_PASSWORD, or neither")
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("OMNICC_LOG_FORMAT", "%q must be text or json", c.LogFormat)
	}
	for _, f := range [][2]string{{"OMNICC_COUNTRY_CODE", c.CountryCode}, {"OMNICC_TRUNK_PREFIX", c.TrunkPrefix},
		{"OMNICC_INTERNATIONAL_PREFIX", c.InternationalPrefix}} {
		if strings.Trim(f[1], "0123456789") != "" || len(f[1]) > 4 {
			bad(f[0], "%q must be up to 4 digits (e.g. 39, 0, 00)", f[1])
		}
	}
	if c.JournalSync <= 0 || c.JournalSync > time.Second {
		bad("OMNICC_JOURNAL_SYNC", "%s must be more than 0 and at most 1s (it bounds what a power cut loses)", c.JournalSync)
	}
	if c.ShutdownTimeout <= 0 {
		bad("OMNICC_SHUTDOWN_TIMEOUT", "must be positive")
	}
	if c.WhatsAppRetention < 0 || (c.WhatsAppRetention > 0 && c.WhatsAppRetention < 24*time.Hour) {
		bad("OMNICC_WHATSAPP_RETENTION", "%s must be 0 (keep everything) or at least 24h", c.WhatsAppRetention)
	}
	if c.WindowWarning <= 0 || c.WindowWarning >= 24*time.Hour {
		bad("OMNICC_WINDOW_WARNING", "%s must be more than 0 and less than the 24h window", c.WindowWarning)
	}
	for _, f := range []struct {
		key string
		n   int
	}{{"OMNICC_DB_POOL_REST", c.DBPoolREST}, {"OMNICC_DB_POOL_REALTIME", c.DBPoolRealtime},
		{"OMNICC_DB_POOL_AGI", c.DBPoolAGI}, {"OMNICC_DB_POOL_WRITERS", c.DBPoolWriters}} {
		if f.n < 1 || f.n > 1000 {
			bad(f.key, "%d connections must be 1-1000 (MariaDB's max_connections must exceed the sum of the pools)", f.n)
		}
	}
	if c.DBPingTimeout < 50*time.Millisecond || c.DBPingTimeout > 10*time.Second {
		bad("OMNICC_DB_PING_TIMEOUT", "%s must be 50ms-10s", c.DBPingTimeout)
	}
	if c.HTTPDBTimeout < 100*time.Millisecond {
		bad("OMNICC_HTTP_DB_TIMEOUT", "%s is shorter than 100ms: REST requests would fail on a healthy database", c.HTTPDBTimeout)
	}
	if c.InstanceID == "" || len(c.InstanceID) > 64 || strings.Trim(c.InstanceID, instanceIDChars) != "" {
		bad("OMNICC_INSTANCE_ID", "%q must be 1-64 letters, digits, '.', '-' or '_' (the host name could not be used: set it)", c.InstanceID)
	}
	for _, u := range strings.Split(c.NATSURL, ",") {
		u = strings.TrimSpace(u)
		if c.NATSURL == "" {
			break
		}
		if p, err := url.Parse(u); err != nil || (p.Scheme != "nats" && p.Scheme != "tls" && p.Scheme != "ws" && p.Scheme != "wss") || p.Host == "" {
			bad("OMNICC_NATS_URL", "%q must be nats://host:port (or tls://, ws://, wss://), comma-separated for a cluster; empty turns the fan-out off", u)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("config: %w", errors.Join(errs...))
}

const instanceIDChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_"

// AllowedWSOrigins are the websocket origins allowed besides the server's
// own host: OMNICC_PUBLIC_URL's and OMNICC_WS_ORIGINS.
func (c Config) AllowedWSOrigins() []string {
	out := []string{c.PublicURL}
	for _, o := range c.WSOrigins {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, strings.TrimSuffix(o, "/"))
		}
	}
	return out
}

// Journal is the directory of the journal called name.
func (c Config) Journal(name string) string {
	dir := c.JournalDir
	if dir == "" {
		dir = filepath.Join(c.DataDir, "journal")
	}
	return filepath.Join(dir, name)
}

// DBPoolSizes are the OMNICC_DB_POOL_* values by store pool name.
func (c Config) DBPoolSizes() map[string]int {
	return map[string]int{"rest": c.DBPoolREST, "realtime": c.DBPoolRealtime, "agi": c.DBPoolAGI, "writers": c.DBPoolWriters}
}

// ExtensionRange is the inclusive range agents' extensions are drawn from.
type ExtensionRange struct{ Low, High int }

// UnmarshalText parses "1000-1999".
func (r *ExtensionRange) UnmarshalText(b []byte) error {
	lo, hi, ok := strings.Cut(strings.TrimSpace(string(b)), "-")
	if !ok {
		return fmt.Errorf("%q must be LOW-HIGH, e.g. 1000-1999", b)
	}
	l, err1 := strconv.Atoi(strings.TrimSpace(lo))
	h, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if err1 != nil || err2 != nil || l < 0 || h < l {
		return fmt.Errorf("%q must be LOW-HIGH with 0 <= LOW <= HIGH", b)
	}
	if h > 99999999 {
		return fmt.Errorf("%q: extensions longer than 8 digits are not supported", b)
	}
	r.Low, r.High = l, h
	return nil
}

func (r ExtensionRange) String() string { return fmt.Sprintf("%d-%d", r.Low, r.High) }

// PrefixList is a comma-separated list of CIDRs; a bare address is a /32 or /128.
type PrefixList []netip.Prefix

// UnmarshalText parses "127.0.0.0/8,::1".
func (p *PrefixList) UnmarshalText(b []byte) error {
	*p = nil
	for _, s := range strings.Split(string(b), ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return fmt.Errorf("%q is not a CIDR or an address", s)
			}
			*p = append(*p, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		pf, err := netip.ParsePrefix(s)
		if err != nil {
			return fmt.Errorf("%q is not a CIDR", s)
		}
		*p = append(*p, pf.Masked())
	}
	return nil
}

// Contains reports whether addr falls in one of the prefixes.
func (p PrefixList) Contains(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, pf := range p {
		if pf.Contains(addr) {
			return true
		}
	}
	return false
}

// Strings renders the prefixes, for Gin's trusted proxies.
func (p PrefixList) Strings() []string {
	out := make([]string, len(p))
	for i, pf := range p {
		out[i] = pf.String()
	}
	return out
}
