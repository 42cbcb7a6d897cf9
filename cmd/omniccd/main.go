// Command omniccd is the omnicc daemon: it reads its configuration, builds
// every component and runs them until SIGTERM or SIGINT. Nothing else lives here.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"omnicc/agi"
	"omnicc/ami"
	"omnicc/api"
	"omnicc/assistant"
	"omnicc/auth"
	"omnicc/calllog"
	"omnicc/calls"
	"omnicc/channels/openchannel"
	"omnicc/channels/webchat"
	"omnicc/channels/whatsapp"
	"omnicc/config"
	"omnicc/contacts"
	"omnicc/desk"
	"omnicc/directory"
	"omnicc/events"
	"omnicc/fanout"
	"omnicc/journal"
	"omnicc/leader"
	"omnicc/presence"
	"omnicc/realtime"
	"omnicc/router"
	"omnicc/store"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `usage: omniccd [serve|migrate|asterisk-conf --out DIR [--host HOST]|version]

  serve          run the daemon (the default)
  migrate        apply pending database migrations and exit
  asterisk-conf  render the sample Asterisk configuration for this omniccd
                 into DIR (--host: the address Asterisk reaches omniccd at)
  version        print the version

Configuration comes from OMNICC_* environment variables; see README.md.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "omniccd:", err)
		os.Exit(1)
	}
}

// run is main without the process: ctx ends it as SIGTERM does.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "omniccd", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "serve", "migrate", "asterisk-conf":
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "asterisk-conf: directory to write the configuration into")
	host := fs.String("host", "", "asterisk-conf: address at which Asterisk reaches omniccd (default: the listen address, or 127.0.0.1)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.FromEnv()
	if err != nil {
		return err
	}
	if cmd == "asterisk-conf" {
		return renderAsteriskConf(cfg, *out, *host, stdout)
	}
	log := newLogger(cfg, stderr)

	// Each role campaigned for holds one connection of the leader pool for
	// as long as it leads or waits: one per Asterisk box, the router, the
	// jobs. A pool smaller than that would leave roles nobody campaigns for.
	sizes := cfg.DBPoolSizes()
	if boxes, err := ami.ParseBoxes(cfg.AMI); err == nil {
		sizes[store.PoolLeader] = max(store.DefaultPoolSizes[store.PoolLeader], len(boxes)+8)
	}
	db, err := store.Open(ctx, store.Options{DSN: cfg.DBDSN, DataDir: cfg.DataDir, Logger: log, PoolSizes: sizes})
	if err != nil {
		return err
	}
	defer db.Close()
	n, err := db.Migrate(ctx)
	if err != nil {
		return err
	}
	if cmd == "migrate" {
		v, _ := db.Version(ctx)
		fmt.Fprintf(stdout, "applied %d migrations; schema version %d (%s)\n", n, v, db.Dialect)
		return nil
	}
	err = serve(ctx, cfg, db, log, stdout)
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		// A SIGTERM during start-up is a normal stop, not a failure.
		return nil
	}
	return err
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func serve(ctx context.Context, cfg config.Config, db *store.DB, log *slog.Logger, stdout io.Writer) error {
	// One registry, served at /metrics, for every component that counts.
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Asterisk's realtime rows are derived from the directory inside its
	// transactions; the HTTP server's cache is invalidated after each commit.
	// Each subsystem has its own connections (store.Pool*), and all of them
	// stop waiting on the database while health knows it is down.
	health := store.NewHealth(db.Pool(store.PoolHealth), store.HealthOptions{Timeout: cfg.DBPingTimeout, Logger: log.With("component", "store")})
	rt, err := realtime.NewServer(ctx, db.Pool(store.PoolRealtime), realtime.Options{
		Logger: log, Allow: cfg.RealtimeAllow, User: cfg.RealtimeUser, Password: cfg.RealtimePassword, Health: health,
		Registerer: metrics,
	})
	if err != nil {
		return err
	}
	defer rt.Close()
	boxes, err := ami.ParseBoxes(cfg.AMI)
	if err != nil {
		return err
	}
	amiMetrics, err := ami.NewMetrics(metrics)
	if err != nil {
		return fmt.Errorf("register the AMI metrics: %w", err)
	}
	pool, err := ami.NewPool(boxes, ami.Config{Logger: log.With("component", "ami"), Metrics: amiMetrics})
	if err != nil {
		return err
	}
	amiMetrics.Watch(pool)
	if !pool.Configured() {
		log.Warn("no Asterisk is configured (OMNICC_AMI is empty): logins and pauses are stored but reach no queue " +
			"(\"asterisk\": \"not_configured\"), and call controls answer 503 asterisk_not_configured")
	}
	// Asterisk's qualify tracking only knows the AORs it saw at load: an
	// agent whose AOR appears or changes gets a (debounced) reload of
	// res_pjsip on every box, so it is reachable as soon as it registers.
	reloader := ami.NewReloader(pool, ami.ReloaderOptions{Logger: log.With("component", "ami"), Sent: amiMetrics.Reload})
	proj := realtime.NewProjector(db.Dialect, realtime.ProjectorOptions{Invalidate: rt.Invalidate})
	dir := directory.New(db, directory.Options{
		ExtensionLow: cfg.ExtensionRange.Low, ExtensionHigh: cfg.ExtensionRange.High,
		SecuritySuite: cfg.SecuritySuite, Logger: log, Projector: reloader.Projector(proj),
	})
	dir.OnChange(proj.Changed)
	dir.OnChange(reloader.Changed)
	// Rows written by an older omniccd, or by hand, are brought in line at start.
	na, nq, err := proj.Resync(ctx, dir)
	if err != nil {
		return fmt.Errorf("derive the realtime rows: %w", err)
	}
	log.Info("realtime rows derived", "agents", na, "queues", nq)
	created, generated, err := dir.EnsureAdmin(ctx, cfg.AdminPassword)
	if err != nil {
		return fmt.Errorf("create the admin user: %w", err)
	}
	if created && generated != "" {
		// Printed once, on stdout rather than in the log, and never stored in clear.
		fmt.Fprintf(stdout, "\n  omnicc: created user admin with password %s\n  (set OMNICC_ADMIN_PASSWORD to choose it; this is shown only once)\n\n", generated)
	} else if created {
		log.Info("created user admin with OMNICC_ADMIN_PASSWORD")
	}
	authn := auth.New(db, dir, auth.Options{
		LockoutThreshold: cfg.LockoutThreshold, TokenTTL: cfg.TokenTTL, InvitationTTL: cfg.InvitationTTL,
		Logger: log.With("component", "auth"),
	})

	// The event bus: presence and calls publish, the websocket hub (and
	// later the router, metrics, NATS) subscribe.
	bus := events.New(events.Options{Logger: log.With("component", "events")})
	// The graph has no cycle: the pool needs nobody; presence asks Asterisk
	// through the queue actions over the pool; the tracker, built last,
	// feeds presence and registers its resync with the pool.
	// History rows are journaled as they are made, so a crash loses none.
	historyJournal, err := journal.Open(cfg.Journal("history"), journal.Options{
		SyncEvery: cfg.JournalSync, Logger: log.With("component", "journal"),
	})
	if err != nil {
		return fmt.Errorf("open the agent-history journal (OMNICC_JOURNAL_DIR): %w", err)
	}
	defer historyJournal.Close()
	queueActions := ami.NewQueueActions(pool, log.With("component", "ami"))
	// The database is the truth for who is logged in; sessions are loaded
	// before AMI connects because the first reconcile compares against them.
	sessions := presence.New(presence.Options{DB: db, Directory: dir, Publisher: bus, Controller: queueActions,
		Names: ami.Names{}, Journal: historyJournal, Logger: log.With("component", "presence")})
	if err := sessions.Load(ctx); err != nil {
		return fmt.Errorf("load agent sessions: %w", err)
	}
	// Built once presence has loaded: a connection's first messages are
	// hello and a snapshot of the states it watches, read from presence.
	hub, err := api.NewHub(api.HubOptions{Auth: authn, Bus: bus, Watch: api.DirectoryWatch{Dir: dir}, States: sessions,
		Logger: log.With("component", "ws"), AllowedOrigins: cfg.AllowedWSOrigins(), MaskFor: dir.MaskSensitiveData})
	if err != nil {
		return err
	}
	metrics.MustRegister(presence.NewStateCollector(sessions))
	var agentPresence api.AgentPresence = sessions
	if !pool.Configured() {
		agentPresence = noAsterisk{sessions}
	}
	// The digital router: it publishes on the bus and follows agents'
	// changes there (a login, an unpause or freed capacity is when the next
	// waiting interaction is offered).
	digital := router.New(router.Options{DB: db, Presence: sessions, Directory: dir, Publisher: bus, Logger: log.With("component", "router")})
	// Among several instances only the router's leader offers; the others
	// store and answer REST, and the leader picks up what they queued.
	digital.SetLeading(db.Dialect != store.MySQL)
	if err := digital.Load(ctx); err != nil {
		return fmt.Errorf("load the router's interactions: %w", err)
	}
	openChannel := openchannel.New(openchannel.Options{DB: db, Router: digital, Queues: dir, Logger: log.With("component", "openchannel")})
	digital.SetSender(openchannel.Channel, openChannel)
	voiceControl := ami.NewVoice(pool, log.With("component", "voice"))
	// At start and after every reconnect: which voice controls this
	// Asterisk can run (a missing module answers 503, never a silent 200).
	pool.OnConnect(voiceControl.CheckModules)
	callControl, err := calls.New(calls.Options{
		Control: voiceControl, DB: db, Agents: dir, Events: bus,
		Logger: log.With("component", "calls"),
		// Automatic recording needs to know whose leg answered, and
		// whether presence saw it offered by a queue.
		AgentOf: sessions.AgentIDByChannel,
		// A queue with record_calls records the calls it hands to agents.
		QueueRecording: dir.QueueRecordCalls,
		// A hold made over REST shows as on_hold like a phone's own.
		Held: func(_ int64, channel string, held bool) {
			kind := presence.VoiceResumed
			if held {
				kind = presence.VoiceHeld
			}
			sessions.ApplyVoice(&presence.VoiceFact{Kind: kind, Leg: channel, Agent: ami.Names{}.Device(channel)})
		},
		CallQueue: func(ctx context.Context, agentID int64, channel string) string {
			st, err := sessions.State(ctx, agentID)
			if err != nil || st.Call == nil || st.Call.Channel != channel {
				return ""
			}
			return st.Call.Queue
		},
	})
	if err != nil {
		return err
	}
	// One instance follows each Asterisk box (role ami:<host:port>): it
	// opens a connection of its own to the box while it leads, and the
	// tracker's first login resyncs and reconciles before anything else.
	// The tracker tells the call controls of hang-ups (and, after a
	// reconnect, of the channels still up) so recordings end with their call.
	followBox := func(box ami.BoxConfig) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			// No metrics: the shared pool's client of the box already
			// counts its events and logins, once per instance.
			own, err := ami.NewPool([]ami.BoxConfig{box}, ami.Config{Logger: log.With("component", "ami")})
			if err != nil {
				return err
			}
			// Sessions other instances changed come first: the tracker's
			// reconcile compares Asterisk's members against them.
			if _, err := sessions.SyncSessions(ctx, nil); err != nil {
				return err
			}
			tracker := ami.NewTracker(own, sessions, ami.TrackerOptions{Logger: log.With("component", "ami"),
				ResyncOnConnect: true, Calls: callControl, Voice: voiceControl})
			tg, tctx := errgroup.WithContext(ctx)
			tg.Go(func() error { return own.Run(tctx) })
			tg.Go(func() error { return tracker.Run(tctx) })
			return tg.Wait()
		}
	}
	voice, err := api.NewVoice(callControl)
	if err != nil {
		return err
	}

	// Routing: the compiled route table follows directory changes; caller
	// lookups are cached; decisions are logged in batches by callLog.Run.
	routes := directory.NewRouteTable(dir, directory.RouteTableOptions{Logger: log.With("component", "routes")})
	if err := routes.Refresh(ctx); err != nil {
		return fmt.Errorf("load the inbound and outbound routes: %w", err)
	}
	people, err := contacts.New(db, contacts.Options{Logger: log.With("component", "contacts"), CallerDB: db.Pool(store.PoolAGI), Numbers: contacts.NumberPlan{
		CountryCode: cfg.CountryCode, TrunkPrefix: cfg.TrunkPrefix, InternationalPrefix: cfg.InternationalPrefix,
	}})
	if err != nil {
		return err
	}
	// Inbound messages on an entry point that names a contact list get
	// their contact, found or created there.
	digital.SetContacts(people)
	// A digital queue naming an AI assistant: its webhook answers first.
	digital.SetBot(assistant.New(assistant.Options{Assistants: dir.AIAssistants()}))
	// Decisions are journaled before Asterisk has its answer: a kill -9
	// loses none (the README's "Call log throughput" says more).
	callJournal, err := journal.Open(cfg.Journal("calllog"), journal.Options{
		SyncEvery: cfg.JournalSync, Logger: log.With("component", "journal"),
	})
	if err != nil {
		return fmt.Errorf("open the call-log journal (OMNICC_JOURNAL_DIR): %w", err)
	}
	defer callJournal.Close()
	callLog := calllog.New(db.Pool(store.PoolWriters), calllog.Options{Logger: log.With("component", "calllog"), Journal: callJournal, Registerer: metrics})
	inbound, err := agi.NewInbound(agi.InboundOptions{Routes: routes, Contacts: people, CallLog: callLog, Health: health})
	if err != nil {
		return err
	}
	outbound, err := agi.NewOutbound(agi.OutboundOptions{Routes: routes, CallLog: callLog})
	if err != nil {
		return err
	}

	// Agents' attachments are kept under the data directory, served by the
	// interaction routes and uploaded to the provider when sent (Twilio
	// fetches them through the connector's signed links).
	attachments := router.NewFiles(filepath.Join(cfg.DataDir, "attachments"))
	// WhatsApp: webhooks are stored first; wa.Run hands them to the router
	// in order, and the router sends agents' replies through it.
	wa, err := whatsapp.New(whatsapp.Options{Store: whatsapp.NewStore(db, nil), PublicURL: cfg.PublicURL,
		Inbox: whatsapp.RouterInbox{Router: digital}, MediaDir: filepath.Join(cfg.DataDir, "whatsapp-media"),
		Statuses: whatsapp.RouterStatuses{Router: digital, Log: log.Warn}, Logger: log.With("component", "whatsapp"),
		Files: attachments})
	if err != nil {
		return err
	}
	digital.SetSender(whatsapp.Channel, whatsapp.RouterSender{Connector: wa, Files: attachments})
	interactions := api.NewInteractions(digital)
	interactions.MaskFor = dir.MaskSensitiveData
	interactions.Files = attachments
	waJobs, err := whatsapp.NewJobs(wa, whatsapp.JobOptions{Registerer: metrics, Retention: cfg.WhatsAppRetention,
		Interactions: digital, WindowWarning: cfg.WindowWarning})
	if err != nil {
		return err
	}

	// Roles that must run once among several instances are led through
	// the database (leader): each Asterisk box, the router, the jobs.
	elector, err := leader.New(db, leader.Options{Instance: cfg.InstanceID, Logger: log.With("component", "leader"), Registerer: metrics})
	if err != nil {
		return err
	}

	// The boxes another instance leads: their events, heard on this
	// instance's own connections, keep its memory of calls and memberships
	// right; their leader alone writes, counts and publishes them.
	var observer *ami.Tracker
	if db.Dialect == store.MySQL && len(boxes) > 0 {
		observer = ami.NewTracker(pool, sessions.Observer(), ami.TrackerOptions{Logger: log.With("component", "ami", "observer", true),
			ResyncOnConnect: true, ReconcileEvery: -1,
			Skip: func(box string) bool { return elector.Leads("ami:" + box) }})
	}

	// With OMNICC_NATS_URL the bus reaches every instance's sockets.
	var fan *fanout.FanOut
	var fanConnected func() bool
	if cfg.NATSURL != "" {
		if fan, err = fanout.New(bus, fanout.Options{URL: cfg.NATSURL, Instance: cfg.InstanceID,
			Logger: log.With("component", "fanout"), Registerer: metrics}); err != nil {
			return err
		}
		fanConnected = fan.Connected
		// Directory changes reach the other instances' caches and
		// indexes (realtime rows, routes, presence's agents).
		dir.PublishChanges(bus)
	}

	// Web chat: visitors' sockets are told of the router's events on the bus.
	chat, err := webchat.New(webchat.Options{DB: db, Router: digital, Directory: dir, Presence: sessions, Contacts: people,
		FilesDir: filepath.Join(cfg.DataDir, "webchat-files"), PublicURL: cfg.PublicURL, Logger: log.With("component", "webchat")})
	if err != nil {
		return err
	}
	digital.SetSender(webchat.Channel, webchat.RouterSender{Connector: chat})

	httpSrv, err := api.New(api.Options{
		Instance: cfg.InstanceID, Roles: elector.Roles, FanOutConnected: fanConnected,
		Addr: cfg.HTTPAddr, MaxBodyBytes: cfg.MaxBodyBytes, TrustedProxies: cfg.TrustedProxies.Strings(),
		PublicURL: cfg.PublicURL, SIPWSURL: cfg.SIPWSURL, Logger: log, DB: db, Health: health, DBTimeout: cfg.HTTPDBTimeout, Directory: dir, Auth: authn,
		ShutdownTimeout: cfg.ShutdownTimeout, Realtime: rt,
		Registry: metrics,
		Mounts: []func(*api.Router){
			api.NewAgentSessions(agentPresence).Mount, hub.Mount, voice.Mount, api.NewRouting(callLog, people).Mount,
			interactions.Mount, api.NewOpenChannel(openChannel).Mount,
			api.NewContacts(people).Mount,
			api.NewWhatsApp(wa, digital).Mount,
			api.NewWebChat(chat, digital).Mount,
			func(r *api.Router) { r.Page(desk.Prefix, desk.Handler()) },
		},
	})
	if err != nil {
		return err
	}

	agiRouter := agi.NewRouter()
	agiRouter.Handle("/inbound", inbound)
	agiRouter.Handle("/outbound", outbound)
	agiRouter.Handle("/agent-login", agi.AgentLogin(sessions))
	agiSrv, err := agi.NewServer(agi.Config{Addr: cfg.AGIAddr, Logger: log.With("component", "agi"), Registerer: metrics}, agiRouter)
	if err != nil {
		return err
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return health.Run(gctx) })
	g.Go(func() error { return httpSrv.Run(gctx) })
	g.Go(func() error { return bus.Run(gctx) })
	g.Go(func() error { return hub.Run(gctx) })
	if fan != nil {
		g.Go(func() error { return fan.Run(gctx) })
		g.Go(func() error { return dir.FollowRemoteChanges(gctx, bus) })
	}
	g.Go(func() error { return agiSrv.Run(gctx) })
	g.Go(func() error { return pool.Run(gctx) })
	g.Go(func() error { return reloader.Run(gctx) })
	for _, box := range boxes {
		g.Go(func() error { return elector.Lead(gctx, "ami:"+box.Addr, followBox(box)) })
	}
	// The history and call-log writers flush what they hold when gctx ends.
	g.Go(func() error { return sessions.Run(gctx) })
	g.Go(func() error { return callLog.Run(gctx) })
	g.Go(func() error { return authn.Run(gctx) })
	g.Go(func() error {
		return elector.Lead(gctx, "router", func(ctx context.Context) error {
			return digital.Lead(ctx, bus, db.Dialect == store.MySQL)
		})
	})
	if observer != nil {
		g.Go(func() error { return observer.Run(gctx) })
	}
	if db.Dialect == store.MySQL {
		// Other instances log agents in, pause them and log them out: this
		// one's presence (and so its router, if it leads) follows the stored
		// sessions, at once on their events and every 2 s regardless.
		sessions.OnSynced(digital.AgentChanged)
		g.Go(func() error { return sessions.FollowOthers(gctx, bus, presence.DefaultSyncEvery) })
	}
	// Every instance answers its own customers' messages to the assistants.
	g.Go(func() error { return digital.RunBots(gctx) })
	g.Go(func() error { return openChannel.Run(gctx) })
	g.Go(func() error { return wa.Run(gctx) })
	g.Go(func() error { return chat.Run(gctx) })
	g.Go(func() error { return chat.Follow(gctx, bus) })
	// Each job is a role of its own, so the jobs spread over instances.
	for _, job := range waJobs.Names() {
		g.Go(func() error {
			return elector.Lead(gctx, "cron:whatsapp."+job, func(ctx context.Context) error { return waJobs.RunScheduled(ctx, job) })
		})
	}
	log.Info("omniccd started", "version", version, "instance", cfg.InstanceID, "http", cfg.HTTPAddr, "agi", cfg.AGIAddr,
		"store", db.Dialect, "asterisk_boxes", len(boxes))
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	log.Info("omniccd stopped")
	return err
}
