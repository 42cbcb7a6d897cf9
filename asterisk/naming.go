// Package asterisk holds the one rule for how Asterisk names an agent and a
// channel. It is a leaf shared by the adapters (ami, agi, realtime): the core
// never imports it, so each naming rule exists exactly once.
package asterisk

import (
	"regexp"
	"strings"
)

// DefaultContext is the dialplan context an external agent's number is
// dialled through when the agent has none (the directory's default too).
const DefaultContext = "from-sip"

// Agent is what the naming rule needs to know of an agent. External is true
// for the "external" typology: a phone number, no endpoint of its own.
type Agent struct {
	Username       string
	External       bool
	ExternalNumber string
	Context        string
}

// Member is how app_queue knows an agent: the interface it dials, the state
// interface it watches and the member name it logs in queue_log.
type Member struct {
	Interface      string
	StateInterface string
	MemberName     string
}

// MemberOf is the queue member of an agent.
//
// An agent with an endpoint is PJSIP/<username> for both interfaces. An
// external agent is Local/<number>@<context>/n: /n keeps the Local channel in
// the call path, so app_queue sees the agent's answer and hang-up instead of
// losing them when the channel optimises away. Its state interface is the
// same Local channel without /n: chan_local reports it in use while a call to
// that number through the context is up, and INVALID when the context cannot
// dial it, so app_queue skips a misconfigured agent instead of ringing
// nothing. The member name is the username, so queue_log's agent column is
// the username for every event. An external agent without a number has no
// interface ("").
func MemberOf(a Agent) Member {
	if a.External {
		if a.ExternalNumber == "" {
			return Member{MemberName: a.Username}
		}
		base := "Local/" + a.ExternalNumber + "@" + contextOr(a.Context)
		return Member{Interface: base + "/n", StateInterface: base, MemberName: a.Username}
	}
	if a.Username == "" {
		return Member{}
	}
	iface := "PJSIP/" + a.Username
	return Member{Interface: iface, StateInterface: iface, MemberName: a.Username}
}

// Dial is the dial string that reaches the agent: the member interface, so
// a call placed by omniccd and one placed by app_queue take the same path.
func Dial(a Agent) string { return MemberOf(a).Interface }

// LocalDial is the dial string of a number reached through a dialplan
// context, as a Local channel kept in the path: Local/<number>@<context>/n.
func LocalDial(number, context string) string {
	return "Local/" + number + "@" + contextOr(context) + "/n"
}

func contextOr(c string) string {
	if c == "" {
		return DefaultContext
	}
	return c
}

// DeviceOf turns a channel name into the device (state interface) it
// belongs to: PJSIP/alice-0000001a → PJSIP/alice; Local/200@ctx-00000001;1
// → Local/200@ctx. A name without a sequence is returned as it is, with a
// trailing /n option removed, so a member interface maps to its device too.
func DeviceOf(channel string) string {
	tech, rest, ok := strings.Cut(channel, "/")
	if !ok {
		return channel
	}
	if tech == "Local" {
		rest = strings.TrimSuffix(rest, "/n")
		if i := strings.LastIndexByte(rest, ';'); i > 0 {
			rest = rest[:i]
		}
	}
	if i := strings.LastIndexByte(rest, '-'); i > 0 && isSequence(rest[i+1:]) {
		rest = rest[:i]
	}
	return tech + "/" + rest
}

// isSequence reports whether s is the hexadecimal sequence Asterisk appends
// to a channel name (8 digits today; any non-empty run of hex digits is
// taken, so usernames such as "sales-team" keep their dash).
func isSequence(s string) bool {
	if len(s) < 8 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// EndpointOf is the PJSIP endpoint of a channel name: PJSIP/alice-0000002a
// → alice; "" for other technologies.
func EndpointOf(channel string) string {
	dev := DeviceOf(channel)
	ep, ok := strings.CutPrefix(dev, "PJSIP/")
	if !ok {
		return ""
	}
	return ep
}

// OwnsChannel reports whether channel is one of the agent's: a channel of
// its device, or the agent's member interface itself.
func OwnsChannel(a Agent, channel string) bool {
	m := MemberOf(a)
	if m.Interface == "" {
		return false
	}
	return channel == m.Interface || DeviceOf(channel) == m.StateInterface
}

// TrunkDial builds the Dial() target of an outbound call: PJSIP/<number>@<endpoint>
// for a bare endpoint name, or the trunk's dial string with the number in
// place of {number}, or appended to it.
func TrunkDial(trunk, number string) string {
	if !strings.Contains(trunk, "/") {
		return "PJSIP/" + number + "@" + trunk
	}
	if strings.Contains(trunk, "{number}") {
		return strings.Replace(trunk, "{number}", number, 1)
	}
	return trunk + number
}

// phoneRe is a phone a user rings from: an endpoint, or a number reached
// through a dialplan context. Nothing else may reach an Originate's Channel:
// a ',' would add ChanSpy options, a '/' a second technology.
var phoneRe = regexp.MustCompile(`^(PJSIP/[A-Za-z0-9._]{1,64}|Local/\+?[0-9*#]{1,32}@[A-Za-z0-9_-]{1,79})$`)

// IsPhone reports whether s is PJSIP/<endpoint> or Local/<number>@<context>:
// a supervisor's desk phone, or the phone a spy request names.
func IsPhone(s string) bool { return phoneRe.MatchString(s) }
