package asterisk

import "testing"

func TestMemberOf(t *testing.T) {
	tests := []struct {
		name string
		in   Agent
		want Member
	}{
		{"webrtc", Agent{Username: "alice"}, Member{"PJSIP/alice", "PJSIP/alice", "alice"}},
		{"external", Agent{Username: "bob", External: true, ExternalNumber: "200", Context: "agents-test"},
			Member{"Local/200@agents-test/n", "Local/200@agents-test", "bob"}},
		{"external default context", Agent{Username: "bob", External: true, ExternalNumber: "+3906"},
			Member{"Local/+3906@from-sip/n", "Local/+3906@from-sip", "bob"}},
		{"external without number", Agent{Username: "bob", External: true}, Member{MemberName: "bob"}},
		{"no username", Agent{}, Member{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MemberOf(tt.in); got != tt.want {
				t.Fatalf("MemberOf(%+v) = %+v, want %+v", tt.in, got, tt.want)
			}
			if got := Dial(tt.in); got != tt.want.Interface {
				t.Fatalf("Dial = %q, want the member interface %q", got, tt.want.Interface)
			}
		})
	}
}

func TestDeviceOf(t *testing.T) {
	tests := []struct{ in, want string }{
		{"PJSIP/alice-0000001a", "PJSIP/alice"},
		{"PJSIP/alice", "PJSIP/alice"},
		{"PJSIP/sales-team", "PJSIP/sales-team"},
		{"PJSIP/sales-team-0000000b", "PJSIP/sales-team"},
		{"Local/200@agents-test-00000001;1", "Local/200@agents-test"},
		{"Local/200@agents-test-00000001;2", "Local/200@agents-test"},
		{"Local/200@agents-test/n", "Local/200@agents-test"},
		{"Local/200@agents-test", "Local/200@agents-test"},
		{"noslash", "noslash"},
	}
	for _, tt := range tests {
		if got := DeviceOf(tt.in); got != tt.want {
			t.Errorf("DeviceOf(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestEndpointOf(t *testing.T) {
	for in, want := range map[string]string{
		"PJSIP/alice-0000002a":     "alice",
		"PJSIP/alice":              "alice",
		"Local/200@ctx-00000001;1": "",
		"SIP/legacy-00000001":      "",
	} {
		if got := EndpointOf(in); got != want {
			t.Errorf("EndpointOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOwnsChannel(t *testing.T) {
	alice := Agent{Username: "alice"}
	ext := Agent{Username: "bob", External: true, ExternalNumber: "200", Context: "ctx"}
	tests := []struct {
		a    Agent
		ch   string
		want bool
	}{
		{alice, "PJSIP/alice-00000001", true},
		{alice, "PJSIP/alice", true},
		{alice, "PJSIP/alicia-00000001", false},
		{alice, "PJSIP/alice-b-00000001", false},
		{ext, "Local/200@ctx-00000003;1", true},
		{ext, "Local/200@ctx/n", true},
		{ext, "Local/201@ctx-00000003;1", false},
		{Agent{Username: "x", External: true}, "Local/@from-sip-00000001;1", false},
	}
	for _, tt := range tests {
		if got := OwnsChannel(tt.a, tt.ch); got != tt.want {
			t.Errorf("OwnsChannel(%+v, %q) = %v, want %v", tt.a, tt.ch, got, tt.want)
		}
	}
}

func TestTrunkDial(t *testing.T) {
	for _, tt := range []struct{ trunk, number, want string }{
		{"my-provider", "0039061234", "PJSIP/0039061234@my-provider"},
		{"PJSIP/{number}@carrier", "555", "PJSIP/555@carrier"},
		{"IAX2/peer/", "555", "IAX2/peer/555"},
	} {
		if got := TrunkDial(tt.trunk, tt.number); got != tt.want {
			t.Errorf("TrunkDial(%q, %q) = %q, want %q", tt.trunk, tt.number, got, tt.want)
		}
	}
	if got := LocalDial("555", ""); got != "Local/555@from-sip/n" {
		t.Errorf("LocalDial = %q", got)
	}
}

func TestIsPhone(t *testing.T) {
	for s, want := range map[string]bool{
		"PJSIP/sue_desk":      true,
		"Local/3001@from-sip": true,
		"Local/+3906@ctx":     true,
		"PJSIP/sue,qBw":       false, // ChanSpy options smuggled in
		"PJSIP/sue/x":         false,
		"SIP/sue":             false,
		"Local/3001":          false,
		"":                    false,
	} {
		if got := IsPhone(s); got != want {
			t.Errorf("IsPhone(%q) = %v, want %v", s, got, want)
		}
	}
}
