package directory

import (
	"context"
	"encoding/json"

	"omnicc/events"
)

// ChangeEvent is the bus event that carries a directory change to the
// other instances sharing the database (over the event fan-out). The
// "internal." prefix keeps it off every websocket.
const ChangeEvent = "internal.directory_change"

// PublishChanges puts every change made through d on pub as a
// ChangeEvent, for the fan-out to carry to the other instances. Changes
// that came from another instance are not sent on.
func (d *Directory) PublishChanges(pub events.Publisher) {
	d.OnChange(func(c Change) {
		if !c.Remote {
			pub.Publish(events.Event{Type: ChangeEvent, Payload: c})
		}
	})
}

// FollowRemoteChanges tells d's listeners of the changes other instances
// made, as their ChangeEvents arrive on src, until ctx ends. When the bus
// drops events for it, every listener is told that everything may have
// changed (an "all" change).
func (d *Directory) FollowRemoteChanges(ctx context.Context, src events.Source) error {
	return events.Follow(ctx, src, events.Everything, 4096, func(e events.Event) {
		if e.Type == events.Lost {
			d.refreshAll()
			return
		}
		if e.Type != ChangeEvent || e.Origin == "" {
			return
		}
		var c Change
		raw, ok := e.Payload.(json.RawMessage)
		if !ok {
			var err error
			if raw, err = json.Marshal(e.Payload); err != nil {
				return
			}
		}
		if err := json.Unmarshal(raw, &c); err != nil || c.Entity == "" {
			d.log.Warn("directory: a change from another instance could not be read; ignored", "origin", e.Origin, "err", err)
			return
		}
		d.NotifyRemote(c)
	}, func(err error) {
		d.log.Warn("directory: fell behind the event bus; refreshing everything", "err", err)
		d.refreshAll()
	})
}

// refreshAll tells every listener that anything may have changed.
func (d *Directory) refreshAll() {
	for _, entity := range []string{"agent", "queue", "membership", "pause_type", "user"} {
		d.NotifyRemote(Change{Entity: entity, Op: "update"})
	}
}
