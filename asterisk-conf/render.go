// Package asteriskconf renders the sample Asterisk 18–22 configuration that
// points Asterisk at omniccd, in its two modes: curl (realtime over HTTP from
// omniccd) and odbc (Asterisk reads omniccd's MySQL tables itself).
package asteriskconf

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"github.com/go-sql-driver/mysql"
)

//go:embed templates/*.conf templates/*.ini
var templateFS embed.FS

//go:embed README.md
var readme []byte

// Mode is how Asterisk reads the realtime tables.
type Mode string

const (
	// Curl: res_config_curl asks omniccd's /realtime over HTTP. Works with
	// either store, and is the only mode for the embedded SQLite one.
	Curl Mode = "curl"
	// ODBC: res_config_odbc reads the MySQL/MariaDB tables omniccd keeps.
	ODBC Mode = "odbc"
)

// Params are the addresses and credentials the samples are rendered with,
// from omniccd's running configuration.
type Params struct {
	// OmniccURL is omniccd's HTTP base URL as Asterisk reaches it
	// (from OMNICC_HTTP_ADDR; e.g. http://127.0.0.1:8080).
	OmniccURL string
	// AGIAddr is omniccd's FastAGI host:port as Asterisk reaches it
	// (from OMNICC_AGI_ADDR).
	AGIAddr string
	// RealtimeUser/RealtimePassword are OMNICC_REALTIME_USER/_PASSWORD,
	// written into res_curl.conf when set.
	RealtimeUser, RealtimePassword string
	// DB is the MySQL database of OMNICC_DB_DSN (see DBFromDSN). With no
	// Host, only the curl set is rendered.
	DB  DB
	AMI AMI

	// SIPBind/SIPPort are where the UDP and TCP transports listen
	// (default 0.0.0.0:5060).
	SIPBind string
	SIPPort int
	// HTTPPort is Asterisk's plain HTTP port (default 8088, loopback);
	// WSSPort its HTTPS port, which carries WebRTC agents' WSS (default 8089).
	HTTPPort, WSSPort int
	// SIPWSURL is where omniccd tells browser softphones to register
	// (OMNICC_SIP_WS_URL): this Asterisk's WSS listener, path /ws. It is
	// written into http.conf and pjsip.conf so the two sides can be checked
	// against each other; default wss://pbx.example.com:<WSSPort>/ws.
	SIPWSURL string
	// TLSCert/TLSKey are the certificate and key files of the WSS listener
	// (default /etc/asterisk/keys/asterisk.crt and .key); http.conf tells
	// how to make a self-signed pair there.
	TLSCert, TLSKey string
	// ExternalAddress and LocalNets fill the transports' NAT settings when
	// Asterisk is behind NAT.
	ExternalAddress string
	LocalNets       []string
	// VoicemailContext is the voicemail context of agents' mailboxes; it
	// must be the one omniccd's realtime projector writes (default omnicc).
	VoicemailContext string
	// ODBCName names the res_odbc connection and the odbc.ini data source
	// (default omnicc); ODBCDriver is the unixODBC driver
	// (default "MariaDB Unicode", MariaDB Connector/ODBC).
	ODBCName, ODBCDriver string
}

// DB is where the MySQL/MariaDB database is, for res_odbc.
type DB struct {
	Host     string
	Port     int
	Name     string
	User     string
	Password string
}

// AMI is the manager account omniccd logs in with (one entry of OMNICC_AMI).
type AMI struct {
	User, Secret string
	// Port and BindAddr are where Asterisk's AMI listens
	// (default 5038 on 127.0.0.1). AMIFor derives both.
	Port     int
	BindAddr string
	// Permit is the address or network omniccd connects from, as
	// manager.conf's permit (default 127.0.0.1/255.255.255.255).
	Permit string
}

// AMIFor works out where manager.conf must listen and whom it lets in.
// amiAddr is the host:port omniccd dials (the OMNICC_AMI entry; empty when
// OMNICC_AMI is not set), omniccHost omniccd's own address as the Asterisk
// box sees it (--host; empty when both run on one box).
//
//   - The port is amiAddr's: omniccd dials that one, so Asterisk must listen
//     there (5038 when amiAddr is empty).
//   - Same box (no --host, or a loopback one): AMI stays on loopback, the
//     safest place for a login that can originate calls.
//   - omniccd elsewhere: AMI listens on every address (Asterisk cannot know
//     which of its own addresses omniccd dials — NAT and containers change
//     it) and the ACL lets in omniccd's address alone. Asterisk's permit
//     takes numeric addresses only, so --host must be an IP address then.
//   - OMNICC_AMI naming another box without --host is refused: the realtime
//     and FastAGI URLs would say 127.0.0.1, which that box cannot reach.
func AMIFor(user, secret, amiAddr, omniccHost string) (AMI, error) {
	a := AMI{User: user, Secret: secret, Port: 5038}
	amiHost := ""
	if amiAddr != "" {
		h, port, err := net.SplitHostPort(amiAddr)
		if err != nil {
			return AMI{}, fmt.Errorf("asterisk-conf: OMNICC_AMI address %q is not host:port: %w", amiAddr, err)
		}
		if a.Port, err = strconv.Atoi(port); err != nil || a.Port < 1 || a.Port > 65535 {
			return AMI{}, fmt.Errorf("asterisk-conf: OMNICC_AMI port %q is not a TCP port", port)
		}
		amiHost = h
	}
	if omniccHost == "" || isLoopback(omniccHost) {
		if amiHost != "" && !isLoopback(amiHost) {
			return AMI{}, fmt.Errorf("asterisk-conf: OMNICC_AMI names Asterisk at %s, another box: give --host with omniccd's IP address as that box sees it (manager.conf must let it in, and Asterisk must reach omniccd's realtime and FastAGI there)", amiHost)
		}
		a.BindAddr, a.Permit = "127.0.0.1", "127.0.0.1/255.255.255.255"
		if ip := net.ParseIP(amiHost); ip != nil && ip.To4() == nil {
			a.BindAddr, a.Permit = "::1", "::1/128"
		}
		return a, nil
	}
	ip := net.ParseIP(omniccHost)
	if ip == nil {
		return AMI{}, fmt.Errorf("asterisk-conf: --host %q is a name, but manager.conf's permit takes IP addresses only: give --host as omniccd's IP address as the Asterisk box sees it", omniccHost)
	}
	if ip.To4() != nil {
		a.BindAddr, a.Permit = "0.0.0.0", ip.String()+"/255.255.255.255"
	} else {
		a.BindAddr, a.Permit = "::", ip.String()+"/128"
	}
	return a, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Remote reports whether manager.conf listens beyond loopback (omniccd on
// another box).
func (a AMI) Remote() bool { return a.BindAddr != "127.0.0.1" && a.BindAddr != "::1" }

// IPv6 reports whether the AMI listener is an IPv6 one, which needs its own
// deny-all line: an IPv4 rule does not match IPv6 peers.
func (a AMI) IPv6() bool { return strings.Contains(a.BindAddr, ":") }

// DBFromDSN takes the pieces res_odbc needs out of a go-sql-driver DSN
// (OMNICC_DB_DSN).
func DBFromDSN(dsn string) (DB, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return DB{}, fmt.Errorf("asterisk-conf: OMNICC_DB_DSN is not a MySQL DSN: %w", err)
	}
	if cfg.Net != "tcp" {
		return DB{}, fmt.Errorf("asterisk-conf: OMNICC_DB_DSN uses %s; Asterisk's ODBC connection needs a tcp(host:port) address", cfg.Net)
	}
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		host, port = cfg.Addr, "3306"
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return DB{}, fmt.Errorf("asterisk-conf: OMNICC_DB_DSN port %q: %w", port, err)
	}
	return DB{Host: host, Port: p, Name: cfg.DBName, User: cfg.User, Password: cfg.Passwd}, nil
}

func (p Params) withDefaults() Params {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	defInt := func(n *int, v int) {
		if *n == 0 {
			*n = v
		}
	}
	def(&p.SIPBind, "0.0.0.0")
	defInt(&p.SIPPort, 5060)
	defInt(&p.HTTPPort, 8088)
	defInt(&p.WSSPort, 8089)
	def(&p.SIPWSURL, "wss://pbx.example.com:"+strconv.Itoa(p.WSSPort)+"/ws")
	def(&p.TLSCert, "/etc/asterisk/keys/asterisk.crt")
	def(&p.TLSKey, "/etc/asterisk/keys/asterisk.key")
	def(&p.VoicemailContext, "omnicc")
	def(&p.ODBCName, "omnicc")
	def(&p.ODBCDriver, "MariaDB Unicode")
	def(&p.AMI.User, "omnicc")
	defInt(&p.AMI.Port, 5038)
	def(&p.AMI.BindAddr, "127.0.0.1")
	def(&p.AMI.Permit, "127.0.0.1/255.255.255.255")
	if p.DB.Host != "" {
		defInt(&p.DB.Port, 3306)
	}
	p.OmniccURL = strings.TrimRight(p.OmniccURL, "/")
	return p
}

// Validate checks what would make a broken sample. Values go into Asterisk
// configuration lines, where a line break would start a new option and a
// ';' a comment, so those are refused with the field named.
func (p Params) Validate() error {
	var errs []error
	need := func(field, v string) {
		if v == "" {
			errs = append(errs, fmt.Errorf("asterisk-conf: %s is empty", field))
		}
	}
	need("OmniccURL (from OMNICC_HTTP_ADDR)", p.OmniccURL)
	need("AGIAddr (from OMNICC_AGI_ADDR)", p.AGIAddr)
	need("AMI secret (from OMNICC_AMI)", p.AMI.Secret)
	if p.OmniccURL != "" && !strings.HasPrefix(p.OmniccURL, "http://") && !strings.HasPrefix(p.OmniccURL, "https://") {
		errs = append(errs, fmt.Errorf("asterisk-conf: OmniccURL %q must start with http:// or https://", p.OmniccURL))
	}
	if p.AGIAddr != "" {
		if _, port, err := net.SplitHostPort(p.AGIAddr); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("asterisk-conf: AGIAddr %q is not host:port", p.AGIAddr))
		}
	}
	if p.DB.Host != "" {
		need("DB name (from OMNICC_DB_DSN)", p.DB.Name)
		need("DB user (from OMNICC_DB_DSN)", p.DB.User)
	}
	for field, v := range map[string]string{
		"OmniccURL": p.OmniccURL, "AGIAddr": p.AGIAddr,
		"realtime user (OMNICC_REALTIME_USER)": p.RealtimeUser, "realtime password (OMNICC_REALTIME_PASSWORD)": p.RealtimePassword,
		"DB host": p.DB.Host, "DB name": p.DB.Name, "DB user": p.DB.User, "DB password": p.DB.Password,
		"AMI user": p.AMI.User, "AMI secret": p.AMI.Secret, "AMI bind address": p.AMI.BindAddr, "AMI permit": p.AMI.Permit,
		"SIP bind address": p.SIPBind, "SIP websocket URL (OMNICC_SIP_WS_URL)": p.SIPWSURL, "TLS certificate": p.TLSCert, "TLS key": p.TLSKey,
		"external address": p.ExternalAddress, "voicemail context": p.VoicemailContext,
		"ODBC name": p.ODBCName, "ODBC driver": p.ODBCDriver,
	} {
		if strings.ContainsAny(v, ";\r\n") {
			errs = append(errs, fmt.Errorf("asterisk-conf: %s contains ';' or a line break, which Asterisk's configuration cannot hold: choose another", field))
		}
	}
	if p.AMI.Port < 1 || p.AMI.Port > 65535 {
		errs = append(errs, fmt.Errorf("asterisk-conf: AMI port (from OMNICC_AMI) %d is not a TCP port", p.AMI.Port))
	}
	if strings.Contains(p.RealtimeUser, ":") {
		errs = append(errs, errors.New("asterisk-conf: realtime user (OMNICC_REALTIME_USER) contains ':', which res_curl.conf's userpwd cannot hold"))
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

// families are the realtime families the samples map, as omniccd serves
// them (realtime.Families) and as its migrations create them.
var families = []string{
	"ps_endpoints", "ps_auths", "ps_aors", "ps_contacts", "ps_domain_aliases", "ps_endpoint_id_ips",
	"queues", "queue_members", "queue_rules", "voicemail", "queue_log", "extensions",
}

// files lists the samples and the modes each belongs to.
var files = []struct {
	name  string
	modes []Mode
}{
	{"extconfig.conf", []Mode{Curl, ODBC}},
	{"sorcery.conf", []Mode{Curl, ODBC}},
	{"res_curl.conf", []Mode{Curl}},
	{"res_odbc.conf", []Mode{ODBC}},
	{"odbc.ini", []Mode{ODBC}},
	{"modules.conf", []Mode{Curl, ODBC}},
	{"pjsip.conf", []Mode{Curl, ODBC}},
	{"http.conf", []Mode{Curl, ODBC}},
	{"manager.conf", []Mode{Curl, ODBC}},
	{"queues.conf", []Mode{Curl, ODBC}},
	{"queuerules.conf", []Mode{Curl, ODBC}},
	{"logger.conf", []Mode{Curl, ODBC}},
	{"extensions.conf", []Mode{Curl, ODBC}},
	{"features.conf", []Mode{Curl, ODBC}},
	{"confbridge.conf", []Mode{Curl, ODBC}},
	{"musiconhold.conf", []Mode{Curl, ODBC}},
}

// view is what a template sees: the parameters, the mode, and helpers.
type view struct {
	Params
	Mode Mode
}

func (v view) Families() []string { return families }

// AMIPeer is omniccd's address as manager.conf's permit names it.
func (v view) AMIPeer() string { return strings.SplitN(v.AMI.Permit, "/", 2)[0] }

// AGIURL is the FastAGI base URL the dialplan appends /inbound etc. to.
func (v view) AGIURL() string { return "agi://" + v.AGIAddr }

// TLSDirs are the directories of the WSS certificate and key, for the
// mkdir in http.conf's instructions.
func (v view) TLSDirs() string {
	c, k := path.Dir(v.TLSCert), path.Dir(v.TLSKey)
	if c == k {
		return c
	}
	return c + " " + k
}

// Driver is the right-hand side of a family's line in extconfig.conf.
func (v view) Driver(family string) string {
	if v.Mode == ODBC {
		return "odbc," + v.ODBCName + "," + family
	}
	return "curl," + v.OmniccURL + "/realtime/" + family
}

// Static is the right-hand side for a static file (ast_config).
func (v view) Static() string {
	if v.Mode == ODBC {
		return "odbc," + v.ODBCName + ",ast_config"
	}
	return "curl," + v.OmniccURL + "/realtime/static"
}

// Modes reports the modes Params can render: curl always, odbc when a
// MySQL database is known.
func (p Params) Modes() []Mode {
	if p.DB.Host == "" {
		return []Mode{Curl}
	}
	return []Mode{Curl, ODBC}
}

// Files renders every sample in memory, keyed by "<mode>/<file>", plus
// README.md at the top.
func Files(p Params) (map[string][]byte, error) {
	p = p.withDefaults()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	tmpl, err := template.New("").Option("missingkey=error").ParseFS(templateFS, "templates/*")
	if err != nil {
		return nil, fmt.Errorf("asterisk-conf: templates: %w", err)
	}
	out := map[string][]byte{"README.md": readme}
	for _, m := range p.Modes() {
		for _, f := range files {
			if !slices.Contains(f.modes, m) {
				continue
			}
			var b bytes.Buffer
			if err := tmpl.ExecuteTemplate(&b, f.name, view{Params: p, Mode: m}); err != nil {
				return nil, fmt.Errorf("asterisk-conf: render %s/%s: %w", m, f.name, err)
			}
			out[string(m)+"/"+f.name] = b.Bytes()
		}
	}
	return out, nil
}

// Render writes the samples under dir: dir/curl/*.conf, dir/odbc/*.conf
// (when p.DB is set) and dir/README.md. It is `omniccd asterisk-conf --out DIR`.
// Files hold secrets (AMI, database), so they are written 0600.
func Render(dir string, p Params) error {
	out, err := Files(p)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(out))
	for n := range out {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		path := filepath.Join(dir, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return fmt.Errorf("asterisk-conf: create %s: %w", filepath.Dir(path), err)
		}
		if err := os.WriteFile(path, out[n], 0o600); err != nil {
			return fmt.Errorf("asterisk-conf: write %s: %w", path, err)
		}
	}
	return nil
}

// Reachable turns a listen address (OMNICC_HTTP_ADDR ":8080",
// OMNICC_AGI_ADDR "0.0.0.0:4573") into the host:port Asterisk dials: a
// wildcard or empty host becomes host (when given: omniccd's address as the
// Asterisk box sees it), else 127.0.0.1 — Asterisk on the same box.
func Reachable(listen, host string) (string, error) {
	h, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("asterisk-conf: listen address %q is not host:port: %w", listen, err)
	}
	if host != "" {
		h = host
	} else if h == "" || h == "0.0.0.0" || h == "::" {
		h = "127.0.0.1"
	}
	return net.JoinHostPort(h, port), nil
}
