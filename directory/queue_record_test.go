package directory_test

import (
	"context"
	"testing"

	"omnicc/directory"
	"omnicc/store"
	"omnicc/storetest"
)

// Issue 17 item 5: a voice queue may record its calls (record_calls, as an
// agent's); QueueRecordCalls is what the automatic recording asks.
func TestQueueRecordCalls(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		d := directory.New(db, directory.Options{BcryptCost: 4, SecuritySuite: true})
		plain, err := d.CreateQueue(ctx, directory.QueueInput{Name: strp("plain")})
		if err != nil || plain.RecordCalls != "inactive" {
			t.Fatalf("default record_calls: %+v %v", plain, err)
		}
		if _, err := d.CreateQueue(ctx, directory.QueueInput{Name: strp("rec"), RecordCalls: strp("wav49")}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ name, want string }{{"rec", "wav49"}, {"plain", ""}, {"nosuch", ""}} {
			if got, err := d.QueueRecordCalls(ctx, c.name); err != nil || got != c.want {
				t.Errorf("QueueRecordCalls(%s) = %q, %v; want %q", c.name, got, err, c.want)
			}
		}
		if _, err := d.CreateQueue(ctx, directory.QueueInput{Name: strp("bad"), RecordCalls: strp("mp3")}); !isField(err, "record_calls") {
			t.Errorf("record_calls mp3: %v, want a field error naming record_calls", err)
		}
		chat := "chat"
		if _, err := d.CreateQueue(ctx, directory.QueueInput{Name: strp("web"), Channel: &chat, RecordCalls: strp("wav")}); !isField(err, "record_calls") {
			t.Errorf("a chat queue recording calls: %v, want a field error naming record_calls", err)
		}
	})
}
