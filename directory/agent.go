package directory

import (
	"database/sql/driver"
	"fmt"
	"maps"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Role is what a user may do through the API.
type Role string

const (
	RoleAdmin      Role = "admin"
	RoleSupervisor Role = "supervisor"
	RoleAgent      Role = "agent"
)

// Typologies of agents (seeds: agents.txt); each decides the Asterisk side.
const (
	TypologyWebRTC   = "webrtc"
	TypologyPhonebar = "phonebar"
	TypologyExternal = "external"
	TypologyMobile   = "mobile"
)

// Digital channels an agent has per-channel settings for, and a digital queue
// can serve. Voice is not among them: it is Asterisk's.
var DigitalChannels = []string{"chat", "email", "sms", "openchannel", "fax", "whatsapp"}

var (
	typologies    = []string{TypologyWebRTC, TypologyPhonebar, TypologyExternal, TypologyMobile}
	codecs        = []string{"ulaw", "alaw", "gsm", "g722", "g729", "opus"}
	natValues     = []string{"yes", "no", "force_rport", "comedia", "never", "route"}
	sipTypes      = []string{"user", "peer", "friend"}
	recordFormats = []string{"inactive", "wav", "wav49", "gsm"}

	usernameRe  = regexp.MustCompile(`^[A-Za-z0-9._]+$`)
	extensionRe = regexp.MustCompile(`^[0-9]{2,8}$`)
	contextRe   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,79}$`)
	numberRe    = regexp.MustCompile(`^\+?[0-9*#]{2,32}$`)
	groupRe     = regexp.MustCompile(`^([0-9]{1,2}(-[0-9]{1,2})?)(,[0-9]{1,2}(-[0-9]{1,2})?)*$`)
	hostnameRe  = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$`)
)

// StringList is an ordered list stored comma-separated (codecs are stored as
// Asterisk's allow= value).
type StringList []string

// Value stores the list comma-separated.
func (c StringList) Value() (driver.Value, error) { return strings.Join(c, ","), nil }

// Scan reads a comma-separated list.
func (c *StringList) Scan(src any) error {
	var s string
	switch v := src.(type) {
	case string:
		s = v
	case []byte:
		s = string(v)
	case nil:
	default:
		return fmt.Errorf("string list: cannot scan %T", src)
	}
	*c = nil
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*c = append(*c, p)
		}
	}
	return nil
}

// WebRTCSettings are the browser softphone's options (webrtc-agent-settings).
type WebRTCSettings struct {
	EnableSettings         bool `json:"enable_settings" db:"webrtc_enable_settings"`
	AutoAnswer             bool `json:"auto_answer" db:"webrtc_auto_answer"`
	AutoAnswerDelay        int  `json:"auto_answer_delay" db:"webrtc_auto_answer_delay"`
	AutoAnswerNotification bool `json:"auto_answer_notification" db:"webrtc_auto_answer_notification"`
	RingInUse              bool `json:"ring_in_use" db:"webrtc_ring_in_use"`
	EnableRecording        bool `json:"enable_recording" db:"webrtc_enable_recording"`
	DTMFTones              bool `json:"dtmf_tones" db:"webrtc_dtmf_tones"`
	DNDOnPause             bool `json:"dnd_on_pause" db:"webrtc_dnd_on_pause"`
	IgnoreBreakForPreview  bool `json:"ignore_break_for_preview" db:"webrtc_ignore_break_for_preview"`
}

// ChannelSettings are an agent's options on one digital channel.
type ChannelSettings struct {
	// Capacity is the most open interactions at once; 0 means unlimited.
	Capacity        int  `json:"capacity" db:"capacity"`
	AutoAnswer      bool `json:"auto_answer" db:"auto_answer"`
	AutoAnswerDelay int  `json:"auto_answer_delay" db:"auto_answer_delay"`
	AdvancedSearch  bool `json:"advanced_search" db:"advanced_search"`
}

// Agent is a user with the agent role and everything Asterisk and the router
// need to reach it. The password is write-only and never leaves the store;
// the SIP secret is read through its own call.
type Agent struct {
	ID                int64      `json:"id" db:"id"`
	FullName          string     `json:"full_name" db:"full_name"`
	Username          string     `json:"username" db:"username"`
	Alias             string     `json:"alias" db:"alias"`
	Typology          string     `json:"typology" db:"typology"`
	Email             string     `json:"email" db:"email"`
	Extension         string     `json:"extension" db:"extension"`
	Description       string     `json:"description" db:"description"`
	Voicemail         bool       `json:"voicemail" db:"voicemail"`
	RemoteControl     bool       `json:"remote_control" db:"remote_control"`
	RemoteControlPort *int       `json:"remote_control_port" db:"remote_control_port"`
	PushGatewayURL    string     `json:"push_gateway_url" db:"push_gateway_url"`
	ExternalNumber    string     `json:"external_number" db:"external_number"`
	LoginInPause      bool       `json:"login_in_pause" db:"login_in_pause"`
	Disabled          bool       `json:"disabled" db:"disabled"`
	Locked            bool       `json:"locked" db:"locked"`
	LastPasswordReset *time.Time `json:"last_password_reset" db:"last_password_reset"`
	MaskSensitiveData bool       `json:"mask_sensitive_data" db:"mask_sensitive_data"`

	// Host is where the phone is: "dynamic" (it registers) or a fixed
	// address, the endpoint's static contact.
	Host string `json:"host" db:"sip_host"`
	// NAT is the NAT traversal the endpoint gets (force_rport,
	// rewrite_contact, rtp_symmetric), named as the SPEC's values.
	NAT string `json:"nat" db:"sip_nat"`
	// sipType is the deprecated "type" of the input being applied, kept
	// only to be checked (AgentInput.SIPType).
	sipType       string
	AllowedCodecs StringList `json:"allowed_codecs" db:"allowed_codecs"`
	CallerID      string     `json:"caller_id" db:"caller_id"`
	Context       string     `json:"context" db:"context"`
	CallGroup     string     `json:"call_group" db:"call_group"`
	PickupGroup   string     `json:"pickup_group" db:"pickup_group"`
	Chanspy       bool       `json:"chanspy" db:"chanspy"`
	Video         bool       `json:"video" db:"video"`
	RecordCalls   string     `json:"record_calls" db:"record_calls"`
	Encryption    bool       `json:"encryption" db:"encryption"`

	WebRTC   WebRTCSettings             `json:"webrtc" db:"-"`
	Channels map[string]ChannelSettings `json:"channels" db:"-"`

	CreatedAt time.Time `json:"created_at" db:"created_at"`
	UpdatedAt time.Time `json:"updated_at" db:"updated_at"`

	// SIPSecret is the softphone's registration secret; it is never the
	// login password and is only shown through Directory.SIPSecret.
	SIPSecret string `json:"-" db:"sip_secret"`
	// VoicemailPIN is the mailbox PIN Asterisk asks for; like the SIP
	// secret it is never in a GET (set it with Directory.SetVoicemailPIN).
	VoicemailPIN string `json:"-" db:"voicemail_pin"`
}

// AgentInput is a create or a partial update: nil fields are left as they are.
type AgentInput struct {
	FullName          *string `json:"full_name"`
	Username          *string `json:"username"`
	Alias             *string `json:"alias"`
	Typology          *string `json:"typology"`
	Email             *string `json:"email"`
	Password          *string `json:"password"`
	Extension         *string `json:"extension"`
	Description       *string `json:"description"`
	Voicemail         *bool   `json:"voicemail"`
	RemoteControl     *bool   `json:"remote_control"`
	RemoteControlPort *int    `json:"remote_control_port"`
	PushGatewayURL    *string `json:"push_gateway_url"`
	ExternalNumber    *string `json:"external_number"`
	LoginInPause      *bool   `json:"login_in_pause"`
	Disabled          *bool   `json:"disabled"`
	Locked            *bool   `json:"locked"`
	MaskSensitiveData *bool   `json:"mask_sensitive_data"`
	Host              *string `json:"host"`
	NAT               *string `json:"nat"`
	// SIPType is chan_sip's type= (user, peer, friend). PJSIP has no such
	// setting: it is accepted and checked for compatibility, and ignored
	// (neither stored nor returned).
	SIPType       *string                 `json:"type"`
	AllowedCodecs *[]string               `json:"allowed_codecs"`
	CallerID      *string                 `json:"caller_id"`
	Context       *string                 `json:"context"`
	CallGroup     *string                 `json:"call_group"`
	PickupGroup   *string                 `json:"pickup_group"`
	Chanspy       *bool                   `json:"chanspy"`
	Video         *bool                   `json:"video"`
	RecordCalls   *string                 `json:"record_calls"`
	Encryption    *bool                   `json:"encryption"`
	WebRTC        *WebRTCInput            `json:"webrtc"`
	Channels      map[string]ChannelInput `json:"channels"`
}

// WebRTCInput updates some WebRTC settings.
type WebRTCInput struct {
	EnableSettings         *bool `json:"enable_settings"`
	AutoAnswer             *bool `json:"auto_answer"`
	AutoAnswerDelay        *int  `json:"auto_answer_delay"`
	AutoAnswerNotification *bool `json:"auto_answer_notification"`
	RingInUse              *bool `json:"ring_in_use"`
	EnableRecording        *bool `json:"enable_recording"`
	DTMFTones              *bool `json:"dtmf_tones"`
	DNDOnPause             *bool `json:"dnd_on_pause"`
	IgnoreBreakForPreview  *bool `json:"ignore_break_for_preview"`
}

// ChannelInput updates some settings of one digital channel.
type ChannelInput struct {
	Capacity        *int  `json:"capacity"`
	AutoAnswer      *bool `json:"auto_answer"`
	AutoAnswerDelay *int  `json:"auto_answer_delay"`
	AdvancedSearch  *bool `json:"advanced_search"`
}

func set[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

// apply copies the given fields of in onto a.
func (in *AgentInput) apply(a *Agent) {
	set(&a.FullName, in.FullName)
	set(&a.Username, in.Username)
	set(&a.Alias, in.Alias)
	set(&a.Typology, in.Typology)
	set(&a.Email, in.Email)
	set(&a.Extension, in.Extension)
	set(&a.Description, in.Description)
	set(&a.Voicemail, in.Voicemail)
	set(&a.RemoteControl, in.RemoteControl)
	if in.RemoteControlPort != nil {
		p := *in.RemoteControlPort
		a.RemoteControlPort = &p
	}
	set(&a.PushGatewayURL, in.PushGatewayURL)
	set(&a.ExternalNumber, in.ExternalNumber)
	set(&a.LoginInPause, in.LoginInPause)
	set(&a.Disabled, in.Disabled)
	set(&a.Locked, in.Locked)
	set(&a.MaskSensitiveData, in.MaskSensitiveData)
	set(&a.Host, in.Host)
	set(&a.NAT, in.NAT)
	set(&a.sipType, in.SIPType)
	if in.AllowedCodecs != nil {
		a.AllowedCodecs = append(StringList(nil), (*in.AllowedCodecs)...)
	}
	set(&a.CallerID, in.CallerID)
	set(&a.Context, in.Context)
	set(&a.CallGroup, in.CallGroup)
	set(&a.PickupGroup, in.PickupGroup)
	set(&a.Chanspy, in.Chanspy)
	set(&a.Video, in.Video)
	set(&a.RecordCalls, in.RecordCalls)
	set(&a.Encryption, in.Encryption)
	if w := in.WebRTC; w != nil {
		set(&a.WebRTC.EnableSettings, w.EnableSettings)
		set(&a.WebRTC.AutoAnswer, w.AutoAnswer)
		set(&a.WebRTC.AutoAnswerDelay, w.AutoAnswerDelay)
		set(&a.WebRTC.AutoAnswerNotification, w.AutoAnswerNotification)
		set(&a.WebRTC.RingInUse, w.RingInUse)
		set(&a.WebRTC.EnableRecording, w.EnableRecording)
		set(&a.WebRTC.DTMFTones, w.DTMFTones)
		set(&a.WebRTC.DNDOnPause, w.DNDOnPause)
		set(&a.WebRTC.IgnoreBreakForPreview, w.IgnoreBreakForPreview)
	}
	for ch, ci := range in.Channels {
		cs := a.Channels[ch]
		set(&cs.Capacity, ci.Capacity)
		set(&cs.AutoAnswer, ci.AutoAnswer)
		set(&cs.AutoAnswerDelay, ci.AutoAnswerDelay)
		set(&cs.AdvancedSearch, ci.AdvancedSearch)
		if a.Channels == nil {
			a.Channels = map[string]ChannelSettings{}
		}
		a.Channels[ch] = cs
	}
}

// newAgentDefaults is an agent before the create input is applied.
func newAgentDefaults() Agent {
	a := Agent{
		Host: "dynamic", NAT: "no", Context: "from-sip", RecordCalls: "inactive",
		Channels: map[string]ChannelSettings{},
	}
	for _, ch := range DigitalChannels {
		a.Channels[ch] = ChannelSettings{}
	}
	return a
}

// DefaultCodecs is the codec list an agent gets when none is given: opus
// first for WebRTC, G.711 otherwise.
func DefaultCodecs(typology string) StringList {
	if typology == TypologyWebRTC {
		return StringList{"opus", "ulaw", "alaw"}
	}
	return StringList{"ulaw", "alaw"}
}

// validate checks every rule that needs no database; the field names are the
// JSON ones so an API client can point at the input at fault.
func (a *Agent) validate() error {
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	switch {
	case strings.TrimSpace(a.FullName) == "":
		add(fieldErr("full_name", "is required"))
	case len(a.FullName) > 255:
		add(fieldErr("full_name", "must be at most 255 characters"))
	default:
		// The full name is the callerid name Asterisk sends (the projector
		// turns '"' into "'" inside the quotes).
		if err := oneLine("full_name", a.FullName); err != nil {
			add(err)
		}
	}
	switch {
	case a.Username == "":
		add(fieldErr("username", "is required"))
	case len(a.Username) > 64:
		add(fieldErr("username", "must be at most 64 characters"))
	case !usernameRe.MatchString(a.Username):
		add(fieldErr("username", "%q may only contain letters, digits, '.' and '_'", a.Username))
	}
	if len(a.Alias) > 255 {
		add(fieldErr("alias", "must be at most 255 characters"))
	} else if err := oneLine("alias", a.Alias); err != nil {
		add(err)
	}
	if !slices.Contains(typologies, a.Typology) {
		add(fieldErr("typology", "%q must be one of %s", a.Typology, strings.Join(typologies, ", ")))
	}
	if a.Email != "" {
		if m, err := mail.ParseAddress(a.Email); err != nil || m.Address != a.Email || len(a.Email) > 255 {
			add(fieldErr("email", "%q is not an e-mail address", a.Email))
		}
	}
	if !extensionRe.MatchString(a.Extension) {
		add(fieldErr("extension", "%q must be 2 to 8 digits", a.Extension))
	}
	if strings.TrimSpace(a.FullName) == a.Extension && a.Extension != "" {
		add(fieldErr("full_name", "must not be the same as the extension %q", a.Extension))
	}
	if len(a.Description) > 2000 {
		add(fieldErr("description", "must be at most 2000 characters"))
	}
	// Typology-specific fields: a wrong combination is refused, not ignored,
	// so nobody believes a phonebar port is set on a WebRTC agent.
	if a.RemoteControl && a.Typology != TypologyPhonebar {
		add(fieldErr("remote_control", "only phonebar agents have remote control"))
	}
	if a.RemoteControl {
		if a.RemoteControlPort == nil {
			add(fieldErr("remote_control_port", "is required when remote_control is on (1-65535)"))
		} else if p := *a.RemoteControlPort; p < 1 || p > 65535 {
			add(fieldErr("remote_control_port", "%d must be between 1 and 65535", p))
		}
	} else if a.RemoteControlPort != nil && (*a.RemoteControlPort < 1 || *a.RemoteControlPort > 65535) {
		add(fieldErr("remote_control_port", "%d must be between 1 and 65535", *a.RemoteControlPort))
	}
	if a.Typology == TypologyMobile {
		if a.PushGatewayURL == "" {
			add(fieldErr("push_gateway_url", "is required for mobile agents"))
		} else if u, err := url.Parse(a.PushGatewayURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			add(fieldErr("push_gateway_url", "%q must be an absolute http(s) URL", a.PushGatewayURL))
		}
	} else if a.PushGatewayURL != "" {
		add(fieldErr("push_gateway_url", "only mobile agents have a push gateway"))
	}
	if a.Typology == TypologyExternal {
		if a.ExternalNumber == "" {
			add(fieldErr("external_number", "is required for external agents"))
		} else if !numberRe.MatchString(a.ExternalNumber) {
			add(fieldErr("external_number", "%q must be a phone number (digits, optional leading +, * or #)", a.ExternalNumber))
		}
	} else if a.ExternalNumber != "" {
		add(fieldErr("external_number", "only external agents have an external number"))
	}
	if a.Host != "dynamic" && net.ParseIP(a.Host) == nil && !hostnameRe.MatchString(a.Host) {
		add(fieldErr("host", "%q must be dynamic, an IP address or a host name", a.Host))
	}
	if !slices.Contains(natValues, a.NAT) {
		add(fieldErr("nat", "%q must be one of %s", a.NAT, strings.Join(natValues, ", ")))
	}
	if a.sipType != "" && !slices.Contains(sipTypes, a.sipType) {
		add(fieldErr("type", "%q must be one of %s (it has no effect: PJSIP has no type)", a.sipType, strings.Join(sipTypes, ", ")))
	}
	if len(a.AllowedCodecs) == 0 {
		add(fieldErr("allowed_codecs", "needs at least one codec among %s", strings.Join(codecs, " ")))
	}
	seen := map[string]bool{}
	for _, c := range a.AllowedCodecs {
		switch {
		case !slices.Contains(codecs, c):
			add(fieldErr("allowed_codecs", "%q is not one of %s", c, strings.Join(codecs, " ")))
		case seen[c]:
			add(fieldErr("allowed_codecs", "%q is listed twice", c))
		case c == "g729" && (a.Typology == TypologyWebRTC || a.Typology == TypologyPhonebar):
			add(fieldErr("allowed_codecs", "g729 is not supported by %s agents", a.Typology))
		}
		seen[c] = true
	}
	if len(a.CallerID) > 255 {
		add(fieldErr("caller_id", "must be one line of at most 255 characters"))
	} else if err := oneLine("caller_id", a.CallerID); err != nil {
		add(err)
	}
	if !contextRe.MatchString(a.Context) {
		add(fieldErr("context", "%q must be 1-79 letters, digits, '_' or '-'", a.Context))
	}
	for _, g := range [][2]string{{"call_group", a.CallGroup}, {"pickup_group", a.PickupGroup}} {
		if g[1] != "" && !validGroup(g[1]) {
			add(fieldErr(g[0], "%q must be numbers 0-63 or ranges, comma-separated (e.g. 1,3-5)", g[1]))
		}
	}
	// SDES sends the media keys in the SDP: over transport-udp or -tcp they
	// travel in clear text, so "encrypted" media would be readable by anyone
	// who sees the signalling. The sample pjsip.conf has no TLS transport;
	// WebRTC agents are always encrypted (DTLS-SRTP over transport-wss).
	if a.Encryption && a.Typology != TypologyWebRTC {
		add(fieldErr("encryption", "cannot be on for a %s agent: SRTP keys (SDES) would travel in clear text, as the sample pjsip.conf has no TLS transport (only transport-udp, transport-tcp, transport-wss); WebRTC agents are always encrypted", a.Typology))
	}
	if !slices.Contains(recordFormats, a.RecordCalls) {
		add(fieldErr("record_calls", "%q must be one of %s", a.RecordCalls, strings.Join(recordFormats, ", ")))
	}
	if d := a.WebRTC.AutoAnswerDelay; d < 0 || d > 3600 {
		add(fieldErr("webrtc.auto_answer_delay", "%d must be between 0 and 3600 seconds", d))
	}
	for _, ch := range slices.Sorted(maps.Keys(a.Channels)) {
		cs := a.Channels[ch]
		if !slices.Contains(DigitalChannels, ch) {
			add(fieldErr("channels."+ch, "%q is not a digital channel (%s)", ch, strings.Join(DigitalChannels, ", ")))
			continue
		}
		if cs.Capacity < 0 || cs.Capacity > 1000 {
			add(fieldErr("channels."+ch+".capacity", "%d must be between 0 (unlimited) and 1000", cs.Capacity))
		}
		if cs.AutoAnswerDelay < 0 || cs.AutoAnswerDelay > 3600 {
			add(fieldErr("channels."+ch+".auto_answer_delay", "%d must be between 0 and 3600 seconds", cs.AutoAnswerDelay))
		}
	}
	if len(errs) > 0 {
		// One field per answer, the first in input order, so the same bad
		// input always names the same field.
		return errs[0]
	}
	return nil
}

func validGroup(g string) bool {
	if !groupRe.MatchString(g) {
		return false
	}
	for _, part := range strings.Split(g, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		l, _ := strconv.Atoi(lo)
		h := l
		if isRange {
			h, _ = strconv.Atoi(hi)
		}
		if l > 63 || h > 63 || h < l {
			return false
		}
	}
	return true
}
