package calls_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"omnicc/calls"
	"omnicc/directory"
	"omnicc/domain"
)

// fakeControl is a telephone system that does what it is told and writes
// down each control as one line, e.g. "Hangup PJSIP/ann-00000001". Its
// channels are PJSIP/<username>-<sequence>.
type fakeControl struct {
	mu    sync.Mutex
	log   []string
	peers map[string]string // BridgePeer answers
	// fail, when it has an entry for a control's name, answers with it.
	fail    map[string]error
	ids     [2]string // CallIDs' uniqueid and linkedid
	nextRec int
	vars    map[string]string // Getvar answers by "channel variable"
}

func newFakeControl() *fakeControl {
	return &fakeControl{peers: map[string]string{}, fail: map[string]error{}, vars: map[string]string{}, ids: [2]string{"1700000000.2", "1700000000.1"}}
}

var fakeChannelRe = regexp.MustCompile(`^[A-Za-z]+/[A-Za-z0-9@+;._-]+$`)

func (f *fakeControl) did(name string, args ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail[name]; err != nil {
		return err
	}
	line := name
	for _, a := range args {
		line += " " + fmt.Sprint(a)
	}
	f.log = append(f.log, line)
	return nil
}

func (f *fakeControl) done() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

func (f *fakeControl) setFail(name string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[name] = err
}

func (f *fakeControl) Ready(box, control string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fail["Ready "+control]
}

func (f *fakeControl) HoldApart(_ context.Context, box, agent, customer, holdContext string) error {
	return f.did("HoldApart", agent, customer, holdContext)
}

func (f *fakeControl) Rejoin(_ context.Context, box, agent, customer string) error {
	return f.did("Rejoin", agent, customer)
}

func (f *fakeControl) CheckChannel(ch string) error {
	if !fakeChannelRe.MatchString(ch) {
		return fmt.Errorf("%q is no channel", ch)
	}
	return nil
}

func (f *fakeControl) OwnsChannel(a calls.Agent, ch string) bool {
	return strings.HasPrefix(ch, "PJSIP/"+a.Username+"-")
}

func (f *fakeControl) RingAgent(_ context.Context, box string, a calls.Agent, dialContext, exten string, r calls.Ring) (string, string, error) {
	return "box1", "PJSIP/" + a.Username, f.did("RingAgent", a.Username, dialContext, exten, r.CallerID)
}

func (f *fakeControl) RingNumber(_ context.Context, box, number, numberContext, dialContext, exten string, r calls.Ring) (string, error) {
	return "box1", f.did("RingNumber", number, numberContext, dialContext)
}

func (f *fakeControl) Spy(_ context.Context, box string, s calls.SpyCall) (string, string, string, error) {
	if s.Endpoint == "bad" {
		return "", "", "", domain.FieldErrorf("endpoint", "bad")
	}
	return "box1", s.Endpoint, "PJSIP/" + s.Agent.Username + "-", f.did("Spy", s.Agent.Username, s.Mode, s.Channel, s.Endpoint)
}

func (f *fakeControl) Hangup(_ context.Context, box, ch string) error { return f.did("Hangup", ch) }

func (f *fakeControl) BlindTransfer(_ context.Context, box, ch, dialContext, exten string) error {
	return f.did("BlindTransfer", ch, dialContext, exten)
}

func (f *fakeControl) AttendedTransfer(_ context.Context, box, ch, dialContext, exten string) error {
	return f.did("AttendedTransfer", ch, dialContext, exten)
}

func (f *fakeControl) CompleteTransfer(_ context.Context, box, ch string) error {
	return f.did("CompleteTransfer", ch)
}

func (f *fakeControl) CancelTransfer(_ context.Context, box, ch string) error {
	return f.did("CancelTransfer", ch)
}

func (f *fakeControl) BridgePeer(_ context.Context, box, ch string) (string, string, error) {
	f.mu.Lock()
	peer := f.peers[ch]
	f.mu.Unlock()
	return "box1", peer, nil
}

func (f *fakeControl) Redirect(_ context.Context, box, ch, extra, dialContext, exten string) error {
	return f.did("Redirect", ch, extra, dialContext)
}

func (f *fakeControl) Getvar(_ context.Context, box, ch, variable string) (string, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return "box1", f.vars[ch+" "+variable], nil
}

func (f *fakeControl) CallIDs(_ context.Context, box, ch string) (string, string, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return "box1", f.ids[0], f.ids[1], nil
}

func (f *fakeControl) StartRecording(_ context.Context, box, ch, file string, slot int) (string, string, error) {
	if err := f.did("StartRecording", ch, file); err != nil {
		return "", "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextRec++
	return "box1", fmt.Sprintf("0x%d", f.nextRec), nil
}

func (f *fakeControl) StopRecording(_ context.Context, box, ch, id string) error {
	return f.did("StopRecording", ch, id)
}

func (f *fakeControl) MuteRecording(_ context.Context, box, ch string, mute bool) error {
	return f.did("MuteRecording", ch, mute)
}

// fakeAgents is a directory of a few agents.
type fakeAgents map[int64]*directory.Agent

func (a fakeAgents) Agent(_ context.Context, id int64) (*directory.Agent, error) {
	if ag, ok := a[id]; ok {
		return ag, nil
	}
	return nil, fmt.Errorf("agent %d: %w", id, domain.ErrNotFound)
}
