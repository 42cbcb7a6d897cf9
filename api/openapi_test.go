package api_test

import (
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"omnicc/ami"
	"omnicc/api"
	"omnicc/auth"
	"omnicc/calls"
	"omnicc/channels/openchannel"
	"omnicc/channels/webchat"
	"omnicc/directory"
	"omnicc/presence"
	"omnicc/router"
	"omnicc/store"
	"omnicc/storetest"
)

var ginParam = regexp.MustCompile(`:([A-Za-z_]+)`)

// Every registered /api/v1 route must be described in openapi.yaml, and the
// document must not describe routes that do not exist.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(api.OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	documented := map[string]bool{}
	for p, ops := range doc.Paths {
		for m := range ops {
			if m != "parameters" {
				documented[strings.ToUpper(m)+" "+p] = true
			}
		}
	}
	registered := map[string]bool{}
	var missing []string
	for _, r := range append(e.api.Routes(), mountedRoutes(t)...) {
		p := ginParam.ReplaceAllString(strings.TrimPrefix(r.Path, "/api/v1"), "{$1}")
		key := r.Method + " " + p
		registered[key] = true
		if !documented[key] {
			missing = append(missing, key)
		}
	}
	var stale []string
	for k := range documented {
		if !registered[k] {
			stale = append(stale, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	if len(missing) > 0 {
		t.Errorf("routes missing from api/openapi.yaml:\n  %s", strings.Join(missing, "\n  "))
	}
	if len(stale) > 0 {
		t.Errorf("api/openapi.yaml describes routes that are not registered:\n  %s", strings.Join(stale, "\n  "))
	}
}

// mountedRoutes are the routes of the Options.Mounts that cmd/omniccd
// wires, so the check covers them too: add each new mount here.
func mountedRoutes(t *testing.T) []api.RouteInfo {
	db := storetest.SQLite(t)
	dir := directory.New(db, directory.Options{})
	authn := auth.New(db, dir, auth.Options{})
	hub, err := api.NewHub(api.HubOptions{Auth: authn})
	if err != nil {
		t.Fatal(err)
	}
	noAMI, err := ami.NewPool(nil, ami.Config{})
	if err != nil {
		t.Fatal(err)
	}
	callSvc, err := calls.New(calls.Options{Control: ami.NewVoice(noAMI, nil), DB: db, Agents: dir})
	if err != nil {
		t.Fatal(err)
	}
	voice, err := api.NewVoice(callSvc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := api.New(api.Options{DB: db, Directory: dir, Auth: authn,
		Mounts: []func(*api.Router){
			api.NewAgentSessions(presence.New(presence.Options{DB: db, Directory: dir})).Mount,
			routingMount(db),
			contactsMount(db),
			hub.Mount,
			voice.Mount,
			api.NewInteractions(router.New(router.Options{DB: db, Directory: dir})).Mount,
			api.NewOpenChannel(openchannel.New(openchannel.Options{DB: db, Queues: dir})).Mount,
			whatsAppMount(t, db),
			webChatMount(t, db),
		}})
	if err != nil {
		t.Fatal(err)
	}
	return s.Routes()
}

func webChatMount(t *testing.T, db *store.DB) func(*api.Router) {
	dir := directory.New(db, directory.Options{})
	rt := router.New(router.Options{DB: db, Directory: dir})
	c, err := webchat.New(webchat.Options{DB: db, Router: rt, Directory: dir})
	if err != nil {
		t.Fatal(err)
	}
	return api.NewWebChat(c, rt).Mount
}
