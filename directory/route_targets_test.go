package directory_test

import (
	"context"
	"errors"
	"testing"

	"omnicc/directory"
	"omnicc/store"
	"omnicc/storetest"
)

// A queue or agent an inbound route sends calls to cannot be deleted from
// under it, and renaming the queue or changing the extension carries over
// into the route, so calls keep reaching the same place.
func TestRouteTargetsFollowTheirQueueAndAgent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		d := directory.New(db, directory.Options{BcryptCost: 4})
		q, err := d.CreateQueue(ctx, directory.QueueInput{Name: strp("sales")})
		if err != nil {
			t.Fatal(err)
		}
		a, err := d.CreateAgent(ctx, directory.AgentInput{FullName: strp("Ann"), Username: strp("ann"), Typology: strp("webrtc"),
			Password: strp("Str0ng-Pass"), Extension: strp("1200")})
		if err != nil {
			t.Fatal(err)
		}
		r, err := d.CreateInboundRoute(ctx, directory.InboundRouteInput{Name: strp("main"), DID: strp("5550100"),
			Open:   &directory.Destination{Type: directory.DestQueue, Target: "sales"},
			Closed: directory.Nullable[directory.Destination]{Set: true, Value: &directory.Destination{Type: directory.DestAgent, Target: "1200"}}})
		if err != nil {
			t.Fatal(err)
		}

		var inUse *directory.InUseError
		if err := d.DeleteQueue(ctx, q.ID); !errors.As(err, &inUse) {
			t.Fatalf("deleting a routed queue: %v, want InUseError", err)
		}
		if err := d.DeleteAgents(ctx, a.ID); !errors.As(err, &inUse) {
			t.Fatalf("deleting a routed agent: %v, want InUseError", err)
		}
		if _, err := d.UpdateQueue(ctx, q.ID, directory.QueueInput{Name: strp("sales-it")}); err != nil {
			t.Fatal(err)
		}
		if _, err := d.UpdateAgent(ctx, a.ID, directory.AgentInput{Extension: strp("1201")}); err != nil {
			t.Fatal(err)
		}
		got, err := d.InboundRoute(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Open.Target != "sales-it" || got.Closed == nil || got.Closed.Target != "1201" {
			t.Fatalf("route after the rename and the new extension: open %+v closed %+v", got.Open, got.Closed)
		}
	})
}
