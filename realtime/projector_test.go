package realtime

import (
	"context"
	"maps"
	"strings"
	"testing"

	"omnicc/directory"
	"omnicc/store"
	"omnicc/storetest"
)

// rig is a directory wired to the projector and to a realtime server, the
// way cmd/omniccd wires them, with Asterisk's view over HTTP.
type rig struct {
	t   *testing.T
	db  *store.DB
	dir *directory.Directory
	srv *Server
	url string
}

func newRig(t *testing.T, db *store.DB) *rig {
	t.Helper()
	srv, err := NewServer(context.Background(), db, testOptions{}.opts())
	if err != nil {
		t.Fatal(err)
	}
	proj := NewProjector(db.Dialect, ProjectorOptions{Invalidate: srv.Invalidate})
	dir := directory.New(db, directory.Options{ExtensionLow: 1000, ExtensionHigh: 1999, BcryptCost: 4, Projector: proj})
	dir.OnChange(proj.Changed)
	return &rig{t: t, db: db, dir: dir, srv: srv, url: startServer(t, srv)}
}

// lookup asks as Asterisk does and returns the row as a map (nil: not found).
func (r *rig) lookup(family, body string) map[string]string {
	r.t.Helper()
	rep := post(r.t, r.url+"/"+family+"/single", body)
	if rep.status != 200 {
		r.t.Fatalf("%s/single %s: %d %q", family, body, rep.status, rep.body)
	}
	if rep.body == "" {
		return nil
	}
	pairs, err := ParsePairs(strings.TrimSuffix(rep.body, "\n"))
	if err != nil {
		r.t.Fatal(err)
	}
	m := map[string]string{}
	for _, p := range pairs {
		m[p.Key] = p.Value
	}
	return m
}

func (r *rig) lookupMulti(family, body string) []map[string]string {
	r.t.Helper()
	rep := post(r.t, r.url+"/"+family+"/multi", body)
	var out []map[string]string
	for _, line := range strings.FieldsFunc(rep.body, func(c rune) bool { return c == '\n' }) {
		pairs, _ := ParsePairs(line)
		m := map[string]string{}
		for _, p := range pairs {
			m[p.Key] = p.Value
		}
		out = append(out, m)
	}
	return out
}

func (r *rig) agent(in directory.AgentInput) *directory.Agent {
	r.t.Helper()
	if in.Password == nil {
		in.Password = ptr("S3cret!pass")
	}
	a, err := r.dir.CreateAgent(context.Background(), in)
	if err != nil {
		r.t.Fatalf("create agent %v: %v", *in.Username, err)
	}
	return a
}

func ptr[T any](v T) *T { return &v }

// wantFields checks the listed fields; "" means the key must be absent.
func wantFields(t *testing.T, what string, got map[string]string, want map[string]string) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: no row", what)
		return
	}
	for k, w := range want {
		g, ok := got[k]
		if w == "" && ok {
			t.Errorf("%s: %s=%q, want it absent", what, k, g)
		} else if w != "" && g != w {
			t.Errorf("%s: %s=%q, want %q", what, k, g, w)
		}
	}
}

// TestTypologyRows creates agents of every typology through the directory and
// looks at what Asterisk gets: endpoint, AOR, auth, extension and mailbox.
func TestTypologyRows(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db)
		for _, tc := range []struct {
			name      string
			in        directory.AgentInput
			endpoint  map[string]string // nil: no endpoint, AOR or auth at all
			aor       map[string]string
			dial      string // appdata of the extension row; "" = no row
			voicemail bool
		}{
			{
				name: "webrtc",
				in:   directory.AgentInput{FullName: ptr("Ann Web"), Username: ptr("ann"), Typology: ptr("webrtc"), Extension: ptr("1001")},
				endpoint: map[string]string{"transport": "transport-wss", "webrtc": "yes", "dtls_auto_generate_cert": "yes",
					"allow": "opus,ulaw,alaw", "disallow": "all", "aors": "ann", "auth": "ann", "context": "from-sip",
					"callerid": `"Ann Web" <1001>`, "direct_media": "no", "media_encryption": "", "mailboxes": ""},
				aor:  map[string]string{"max_contacts": "1", "remove_existing": "yes", "qualify_frequency": "0", "contact": ""},
				dial: "omnicc-dial-agent,s,1(PJSIP/ann,1001)",
			},
			{
				name: "webrtc puts opus first and adds video",
				in: directory.AgentInput{FullName: ptr("Vic Video"), Username: ptr("vic"), Typology: ptr("webrtc"), Extension: ptr("1002"),
					AllowedCodecs: &[]string{"ulaw", "opus"}, Video: ptr(true)},
				endpoint: map[string]string{"allow": "opus,ulaw,vp8,h264"},
				aor:      map[string]string{},
				dial:     "omnicc-dial-agent,s,1(PJSIP/vic,1002)",
			},
			{
				name: "webrtc without opus when an admin took it out (an Asterisk with no codec_opus)",
				in: directory.AgentInput{FullName: ptr("Gil G711"), Username: ptr("gil"), Typology: ptr("webrtc"), Extension: ptr("1009"),
					AllowedCodecs: &[]string{"ulaw", "alaw"}},
				endpoint: map[string]string{"allow": "ulaw,alaw", "webrtc": "yes"},
				aor:      map[string]string{},
				dial:     "omnicc-dial-agent,s,1(PJSIP/gil,1009)",
			},
			{
				name: "phonebar behind NAT with groups and its own context",
				in: directory.AgentInput{FullName: ptr("Pat Phone"), Username: ptr("pat"), Typology: ptr("phonebar"), Extension: ptr("1003"),
					NAT: ptr("yes"), AllowedCodecs: &[]string{"alaw", "g722"}, CallGroup: ptr("1"), PickupGroup: ptr("1,2"),
					Context: ptr("sales-agents"), CallerID: ptr(`"Sales" <5550100>`), Voicemail: ptr(true)},
				endpoint: map[string]string{"transport": "transport-udp", "webrtc": "no", "allow": "alaw,g722", "force_rport": "yes",
					"rewrite_contact": "yes", "rtp_symmetric": "yes", "call_group": "1", "pickup_group": "1,2", "context": "sales-agents",
					"callerid": `"Sales" <5550100>`, "media_encryption": "no", "mailboxes": "1003@omnicc", "dtls_auto_generate_cert": ""},
				aor:       map[string]string{"qualify_frequency": "30", "mailboxes": "1003@omnicc"},
				dial:      "omnicc-dial-agent,s,1(PJSIP/pat,1003)",
				voicemail: true,
			},
			{
				name: "phonebar with a fixed address",
				in: directory.AgentInput{FullName: ptr("Desk Phone"), Username: ptr("desk"), Typology: ptr("phonebar"), Extension: ptr("1004"),
					Host: ptr("192.0.2.10"), NAT: ptr("comedia")},
				endpoint: map[string]string{"force_rport": "no", "rewrite_contact": "no", "rtp_symmetric": "yes", "media_encryption": "no"},
				aor:      map[string]string{"contact": "sip:desk@192.0.2.10"},
				dial:     "omnicc-dial-agent,s,1(PJSIP/desk,1004)",
			},
			{
				name: "mobile",
				in: directory.AgentInput{FullName: ptr("Mo Bile"), Username: ptr("mo"), Typology: ptr("mobile"), Extension: ptr("1005"),
					PushGatewayURL: ptr("https://push.example/gw")},
				endpoint: map[string]string{"transport": "transport-tcp", "webrtc": "no"},
				aor:      map[string]string{"qualify_frequency": "0"},
				dial:     "omnicc-dial-agent,s,1(PJSIP/mo,1005)",
			},
			{
				name:      "external: no endpoint, reached through a Local channel",
				in:        directory.AgentInput{FullName: ptr("Ext Ernal"), Username: ptr("ext"), Typology: ptr("external"), Extension: ptr("1006"), ExternalNumber: ptr("+33612345678"), Voicemail: ptr(true)},
				dial:      "omnicc-dial-agent,s,1(Local/+33612345678@from-sip/n,1006)",
				voicemail: true,
			},
			{
				name: "disabled: nothing Asterisk can use",
				in:   directory.AgentInput{FullName: ptr("Dis Abled"), Username: ptr("dis"), Typology: ptr("phonebar"), Extension: ptr("1007"), Disabled: ptr(true)},
			},
		} {
			t.Run(tc.name, func(t *testing.T) {
				a := r.agent(tc.in)
				u := "id=" + a.Username
				ep, aor, auth := r.lookup("ps_endpoints", u), r.lookup("ps_aors", u), r.lookup("ps_auths", u)
				if tc.endpoint == nil {
					if ep != nil || aor != nil || auth != nil {
						t.Errorf("rows for an agent without endpoint: %v %v %v", ep, aor, auth)
					}
				} else {
					wantFields(t, "ps_endpoints", ep, tc.endpoint)
					wantFields(t, "ps_aors", aor, tc.aor)
					secret, _ := r.dir.SIPSecret(context.Background(), a.ID)
					wantFields(t, "ps_auths", auth, map[string]string{"auth_type": "userpass", "username": a.Username, "password": secret})
				}
				ext := r.lookup("extensions", "exten="+a.Extension+"&context=omnicc-agents&priority=1")
				if tc.dial == "" {
					if ext != nil {
						t.Errorf("extension row for an agent that cannot be reached: %v", ext)
					}
				} else {
					wantFields(t, "extensions", ext, map[string]string{"app": "Gosub", "appdata": tc.dial})
				}
				vm := r.lookup("voicemail", "mailbox="+a.Extension+"&context=omnicc")
				if tc.voicemail {
					// The PIN is the agent's random one, not its guessable mailbox number.
					if len(a.VoicemailPIN) != 6 || a.VoicemailPIN == a.Extension {
						t.Errorf("voicemail PIN %q", a.VoicemailPIN)
					}
					wantFields(t, "voicemail", vm, map[string]string{"fullname": a.FullName, "password": a.VoicemailPIN})
					// A PIN set through the API reaches the row.
					if err := r.dir.SetVoicemailPIN(context.Background(), a.ID, "24680"); err != nil {
						t.Fatal(err)
					}
					wantFields(t, "voicemail after PUT voicemail-pin", r.lookup("voicemail", "mailbox="+a.Extension+"&context=omnicc"), map[string]string{"password": "24680"})
				} else if vm != nil {
					t.Errorf("voicemail row with voicemail off: %v", vm)
				}
			})
		}
	})
}

// TestAgentLifecycle follows one agent through the changes an admin makes,
// with Asterisk's own writes (a registration, a PIN change, a pause) in
// between, and checks that the rows follow and Asterisk's writes survive.
func TestAgentLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db)
		ctx := context.Background()
		a := r.agent(directory.AgentInput{FullName: ptr("Ann Smith"), Username: ptr("ann"), Typology: ptr("webrtc"), Extension: ptr("1001"), Voicemail: ptr(true)})
		q, err := r.dir.CreateQueue(ctx, directory.QueueInput{Name: ptr("sales"), Strategy: ptr("rrmemory"), Timeout: ptr(20)})
		if err != nil {
			t.Fatal(err)
		}
		chat, err := r.dir.CreateQueue(ctx, directory.QueueInput{Name: ptr("web"), Channel: ptr("chat")})
		if err != nil {
			t.Fatal(err)
		}
		wantFields(t, "queues", r.lookup("queues", "name=sales"), map[string]string{"strategy": "rrmemory", "timeout": "20", "ringinuse": "no", "musiconhold": "default"})
		if r.lookup("queues", "name=web") != nil {
			t.Error("a chat queue got an Asterisk row")
		}

		// A plain link does not make the queue ring the agent; a permanent one does.
		if err := r.dir.AddQueueMember(ctx, directory.MembershipInput{QueueID: q.ID, AgentID: a.ID, Penalty: 2}); err != nil {
			t.Fatal(err)
		}
		if m := r.lookupMulti("queue_members", "interface%20LIKE=%25&queue_name=sales"); len(m) != 0 {
			t.Fatalf("non-permanent link made a member: %v", m)
		}
		if err := r.dir.AddQueueMember(ctx, directory.MembershipInput{QueueID: q.ID, AgentID: a.ID, Penalty: 2, Permanent: true}); err != nil {
			t.Fatal(err)
		}
		members := r.lookupMulti("queue_members", "interface%20LIKE=%25&queue_name=sales")
		if len(members) != 1 {
			t.Fatalf("members: %v", members)
		}
		wantFields(t, "member", members[0], map[string]string{"interface": "PJSIP/ann", "state_interface": "PJSIP/ann", "membername": "ann", "penalty": "2", "paused": "0"})
		uid := members[0]["uniqueid"]
		if err := r.dir.AddQueueMember(ctx, directory.MembershipInput{QueueID: chat.ID, AgentID: a.ID}); err != nil {
			t.Fatal(err)
		}

		// Asterisk's writes: a REGISTER, a pause with a reason, a PIN change.
		for _, w := range []struct{ path, body string }{
			{"/ps_contacts/store", "id=ann%3B%40abc&uri=sip%3Aann%40192.0.2.1&endpoint=ann&expiration_time=1795277265"},
			{"/queue_members/update?uniqueid=" + uid, "reason_paused=Lunch&paused=1"},
			{"/voicemail/update?&context=omniccmailbox=1001", "&password=9876"},
		} {
			if rep := post(t, r.url+w.path, w.body); rep.body != "1\n" {
				t.Fatalf("%s: %q", w.path, rep.body)
			}
		}

		// Renumber, rename, change typology, change the penalty: the member
		// keeps its uniqueid and pause, the mailbox its PIN.
		a, err = r.dir.UpdateAgent(ctx, a.ID, directory.AgentInput{Username: ptr("ann.smith"), Extension: ptr("1101"), Typology: ptr("phonebar"), AllowedCodecs: &[]string{"ulaw"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.dir.AddQueueMember(ctx, directory.MembershipInput{QueueID: q.ID, AgentID: a.ID, Penalty: 5, Permanent: true}); err != nil {
			t.Fatal(err)
		}
		if r.lookup("ps_endpoints", "id=ann") != nil || r.lookup("ps_auths", "id=ann") != nil {
			t.Error("rows of the old username remain")
		}
		if c := r.lookupMulti("ps_contacts", "id%20LIKE=ann%3B%40%25"); len(c) != 0 {
			t.Errorf("the old endpoint's contacts remain: %v", c)
		}
		wantFields(t, "renamed endpoint", r.lookup("ps_endpoints", "id=ann.smith"), map[string]string{"transport": "transport-udp", "webrtc": "no", "allow": "ulaw", "mailboxes": "1101@omnicc"})
		secret, err := r.dir.RotateSIPSecret(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantFields(t, "rotated secret", r.lookup("ps_auths", "id=ann.smith"), map[string]string{"username": "ann.smith", "password": secret})
		members = r.lookupMulti("queue_members", "interface%20LIKE=%25&queue_name=sales")
		if len(members) != 1 {
			t.Fatalf("members after rename: %v", members)
		}
		wantFields(t, "member after rename", members[0], map[string]string{"interface": "PJSIP/ann.smith", "uniqueid": uid, "paused": "1", "reason_paused": "Lunch", "penalty": "5"})
		if r.lookup("voicemail", "mailbox=1001&context=omnicc") != nil {
			t.Error("old mailbox remains")
		}
		wantFields(t, "moved mailbox", r.lookup("voicemail", "mailbox=1101&context=omnicc"), map[string]string{"password": "9876"})
		if r.lookup("extensions", "exten=1001&context=omnicc-agents&priority=1") != nil {
			t.Error("old extension row remains")
		}
		wantFields(t, "extension", r.lookup("extensions", "exten=1101&context=omnicc-agents&priority=1"), map[string]string{"appdata": "omnicc-dial-agent,s,1(PJSIP/ann.smith,1101)"})

		// Disable: nothing usable; enable: back, pause lost with the row
		// (a disabled agent is no member).
		if _, err := r.dir.UpdateAgent(ctx, a.ID, directory.AgentInput{Disabled: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		if r.lookup("ps_endpoints", "id=ann.smith") != nil || r.lookup("extensions", "exten=1101&context=omnicc-agents&priority=1") != nil {
			t.Error("a disabled agent keeps an endpoint or an extension")
		}
		if m := r.lookupMulti("queue_members", "interface%20LIKE=%25&queue_name=sales"); len(m) != 0 {
			t.Errorf("a disabled agent is still a member: %v", m)
		}
		if r.lookup("voicemail", "mailbox=1101&context=omnicc") == nil {
			t.Error("disabling lost the mailbox (and its messages' owner)")
		}
		if _, err := r.dir.UpdateAgent(ctx, a.ID, directory.AgentInput{Disabled: ptr(false), Voicemail: ptr(false)}); err != nil {
			t.Fatal(err)
		}
		if r.lookup("ps_endpoints", "id=ann.smith") == nil || len(r.lookupMulti("queue_members", "interface%20LIKE=%25&queue_name=sales")) != 1 {
			t.Error("enabling did not bring the endpoint and the member back")
		}
		if r.lookup("voicemail", "mailbox=1101&context=omnicc") != nil {
			t.Error("voicemail off kept the mailbox")
		}

		// Queue rename, then channel change, then delete.
		if _, err := r.dir.UpdateQueue(ctx, q.ID, directory.QueueInput{Name: ptr("sales2")}); err != nil {
			t.Fatal(err)
		}
		if r.lookup("queues", "name=sales") != nil || r.lookup("queues", "name=sales2") == nil {
			t.Error("queue rename not followed")
		}
		if m := r.lookupMulti("queue_members", "interface%20LIKE=%25&queue_name=sales2"); len(m) != 1 {
			t.Errorf("members did not follow the rename: %v", m)
		}
		if err := r.dir.RemoveQueueMember(ctx, q.ID, a.ID); err != nil {
			t.Fatal(err)
		}
		if m := r.lookupMulti("queue_members", "interface%20LIKE=%25&queue_name=sales2"); len(m) != 0 {
			t.Errorf("unlinked agent still a member: %v", m)
		}
		if err := r.dir.AddQueueMember(ctx, directory.MembershipInput{QueueID: q.ID, AgentID: a.ID, Permanent: true}); err != nil {
			t.Fatal(err)
		}
		if err := r.dir.DeleteQueue(ctx, q.ID); err != nil {
			t.Fatal(err)
		}
		if r.lookup("queues", "name=sales2") != nil || len(r.lookupMulti("queue_members", "interface%20LIKE=%25&queue_name=sales2")) != 0 {
			t.Error("deleted queue left rows")
		}

		// Delete the agent: every row goes.
		if err := r.dir.DeleteAgents(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		for _, fam := range []string{"ps_endpoints", "ps_aors", "ps_auths"} {
			if r.lookup(fam, "id=ann.smith") != nil {
				t.Errorf("%s row of a deleted agent", fam)
			}
		}
		if r.lookup("extensions", "exten=1101&context=omnicc-agents&priority=1") != nil {
			t.Error("extension row of a deleted agent")
		}
	})
}

// TestExternalPermanentMember: an external agent marked permanent rings
// through a Local channel to its number, tracked by the same interface.
func TestExternalPermanentMember(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db)
		ctx := context.Background()
		a := r.agent(directory.AgentInput{FullName: ptr("Over Flow"), Username: ptr("overflow"), Typology: ptr("external"), ExternalNumber: ptr("0612345678")})
		q, err := r.dir.CreateQueue(ctx, directory.QueueInput{Name: ptr("support")})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.dir.AddQueueMember(ctx, directory.MembershipInput{QueueID: q.ID, AgentID: a.ID, Penalty: 9, Permanent: true}); err != nil {
			t.Fatal(err)
		}
		m := r.lookupMulti("queue_members", "interface%20LIKE=%25&queue_name=support")
		if len(m) != 1 {
			t.Fatalf("members: %v", m)
		}
		wantFields(t, "external member", m[0], map[string]string{"interface": "Local/0612345678@from-sip/n", "state_interface": "Local/0612345678@from-sip", "penalty": "9", "membername": "overflow"})
		if _, err := r.dir.UpdateAgent(ctx, a.ID, directory.AgentInput{ExternalNumber: ptr("0698765432")}); err != nil {
			t.Fatal(err)
		}
		m = r.lookupMulti("queue_members", "interface%20LIKE=%25&queue_name=support")
		if len(m) != 1 || m[0]["interface"] != "Local/0698765432@from-sip/n" || m[0]["state_interface"] != "Local/0698765432@from-sip" {
			t.Errorf("member after a number change: %v", m)
		}
	})
}

// TestProjectionFailureRollsBack: when a derived row cannot be written, the
// directory change does not happen either — neither half is committed.
func TestProjectionFailureRollsBack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db)
		ctx := context.Background()
		a := r.agent(directory.AgentInput{FullName: ptr("Ann Smith"), Username: ptr("ann"), Typology: ptr("webrtc"), Extension: ptr("1001")})
		before := r.lookup("ps_endpoints", "id=ann")

		// Break one derived table: the voicemail projection will fail.
		mustExec(t, db, "DROP TABLE voicemail")

		if _, err := r.dir.CreateAgent(ctx, directory.AgentInput{FullName: ptr("Bob Jones"), Username: ptr("bob"), Typology: ptr("phonebar"),
			Extension: ptr("1002"), Voicemail: ptr(true), Password: ptr("S3cret!pass")}); err == nil {
			t.Fatal("creating an agent succeeded although its mailbox could not be written")
		}
		if _, err := r.dir.AgentByUsername(ctx, "bob"); err == nil {
			t.Error("the agent was committed without its Asterisk rows")
		}
		if r.lookup("ps_endpoints", "id=bob") != nil {
			t.Error("the endpoint was committed without the agent")
		}

		if _, err := r.dir.UpdateAgent(ctx, a.ID, directory.AgentInput{Typology: ptr("phonebar"), AllowedCodecs: &[]string{"alaw"}, Voicemail: ptr(true)}); err == nil {
			t.Fatal("updating an agent succeeded although its mailbox could not be written")
		}
		got, err := r.dir.Agent(ctx, a.ID)
		if err != nil || got.Typology != "webrtc" {
			t.Errorf("the agent changed although the projection failed: %+v %v", got, err)
		}
		if after := r.lookup("ps_endpoints", "id=ann"); !maps.Equal(before, after) {
			t.Errorf("the endpoint changed although the update failed:\nbefore %v\nafter  %v", before, after)
		}
	})
}

// TestResync: agents and queues written while no projector was wired get
// their rows from Resync, and a trunk an administrator keeps in ps_endpoints
// is left alone.
func TestResync(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		bare := directory.New(db, directory.Options{ExtensionLow: 1000, ExtensionHigh: 1999, BcryptCost: 4})
		a, err := bare.CreateAgent(ctx, directory.AgentInput{FullName: ptr("Ann Smith"), Username: ptr("ann"), Typology: ptr("webrtc"), Password: ptr("S3cret!pass")})
		if err != nil {
			t.Fatal(err)
		}
		q, err := bare.CreateQueue(ctx, directory.QueueInput{Name: ptr("sales")})
		if err != nil {
			t.Fatal(err)
		}
		if err := bare.AddQueueMember(ctx, directory.MembershipInput{QueueID: q.ID, AgentID: a.ID, Permanent: true}); err != nil {
			t.Fatal(err)
		}
		mustExec(t, db, `INSERT INTO ps_endpoints (id, transport, context) VALUES (?, ?, ?)`, "carrier", "transport-udp", "from-trunk")

		r := newRig(t, db)
		if r.lookup("ps_endpoints", "id=ann") != nil {
			t.Fatal("rows before resync: the test is not testing anything")
		}
		proj := NewProjector(db.Dialect, ProjectorOptions{Invalidate: r.srv.Invalidate})
		na, nq, err := proj.Resync(ctx, r.dir)
		if err != nil || na != 1 || nq != 1 {
			t.Fatalf("Resync = %d, %d, %v", na, nq, err)
		}
		wantFields(t, "endpoint", r.lookup("ps_endpoints", "id=ann"), map[string]string{"transport": "transport-wss"})
		wantFields(t, "queue", r.lookup("queues", "name=sales"), map[string]string{"strategy": "ringall"})
		if m := r.lookupMulti("queue_members", "interface%20LIKE=%25&queue_name=sales"); len(m) != 1 {
			t.Errorf("members after resync: %v", m)
		}
		wantFields(t, "trunk", r.lookup("ps_endpoints", "id=carrier"), map[string]string{"context": "from-trunk"})
	})
}
