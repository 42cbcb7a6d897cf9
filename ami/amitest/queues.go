package amitest

import (
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"omnicc/ami"
)

// QueueMember is one member of a Queues model, as app_queue keeps it.
type QueueMember struct {
	Queue          string
	Interface      string
	MemberName     string
	StateInterface string
	Membership     string // dynamic, static or realtime
	Penalty        int
	Paused         bool
	PausedReason   string
	Status         int // 1 not in use … 8 on hold
	CallsTaken     int
	InCall         bool
	Wrapuptime     int
	LoginTime      int64
}

// Queues is a small model of app_queue behind a Server: it answers QueueAdd,
// QueueRemove, QueuePause, QueueStatus, CoreShowChannels and DeviceStateList
// the way Asterisk 22 does in the captures (same messages, same field order,
// QueueMember items with ActionID last), and raises the QueueMember* events
// that follow each change. Events raised by an action go to the connection
// that sent it, right after its response, as Asterisk orders them; Pause and
// SetStatus raise theirs on every connection, as a CLI command would.
type Queues struct {
	srv *Server

	// late holds the event batches DelayEvents postponed, oldest first;
	// pushMu keeps them in order on the wire.
	pushMu sync.Mutex
	late   [][]ami.Message

	mu       sync.Mutex
	delay    time.Duration
	queues   map[string]bool
	members  []*QueueMember
	channels []ami.Message
	devices  []ami.Message
	now      int64
}

// NewQueues installs the model's handlers on srv, with the given queues
// existing (others answer "No such queue").
func NewQueues(srv *Server, queues ...string) *Queues {
	q := &Queues{srv: srv, queues: make(map[string]bool), now: 1795277386}
	for _, name := range queues {
		q.queues[name] = true
	}
	srv.Handle("QueueAdd", q.eventsLater(q.queueAdd))
	srv.Handle("QueueRemove", q.eventsLater(q.queueRemove))
	srv.Handle("QueuePause", q.eventsLater(q.queuePause))
	srv.Handle("QueuePenalty", q.eventsLater(q.queuePenalty))
	srv.Handle("QueueStatus", q.queueStatus)
	srv.Handle("CoreShowChannels", q.coreShowChannels)
	srv.Handle("DeviceStateList", q.deviceStateList)
	return q
}

// Add puts a member in place without any event: the state Asterisk already
// had when a client connects.
func (q *Queues) Add(m QueueMember) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.queues[m.Queue] = true
	if m.Membership == "" {
		m.Membership = "dynamic"
	}
	if m.Status == 0 {
		m.Status = 1
	}
	if m.LoginTime == 0 {
		m.LoginTime = q.now
	}
	q.members = append(q.members, &m)
}

// Members returns a copy of the members, by queue then interface.
func (q *Queues) Members() []QueueMember {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]QueueMember, 0, len(q.members))
	for _, m := range q.members {
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Queue != out[j].Queue {
			return out[i].Queue < out[j].Queue
		}
		return out[i].Interface < out[j].Interface
	})
	return out
}

// Member returns one member and whether it exists.
func (q *Queues) Member(queue, iface string) (QueueMember, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if m := q.find(queue, iface); m != nil {
		return *m, true
	}
	return QueueMember{}, false
}

// Restart forgets the dynamic members, as an Asterisk restart does (static
// and realtime members come back from configuration).
func (q *Queues) Restart() {
	q.mu.Lock()
	defer q.mu.Unlock()
	kept := q.members[:0]
	for _, m := range q.members {
		if m.Membership != "dynamic" {
			m.Paused, m.PausedReason = false, ""
			kept = append(kept, m)
		}
	}
	q.members = kept
	q.channels, q.devices = nil, nil
}

// DelayEvents makes QueueAdd, QueueRemove and QueuePause answer at once and
// raise their events d later, on every connection, as a real Asterisk does:
// app_queue publishes them through stasis, and the manager writes them
// after the response. 0 sends them right after the response again.
func (q *Queues) DelayEvents(d time.Duration) {
	q.mu.Lock()
	q.delay = d
	q.mu.Unlock()
}

// eventsLater wraps an action's handler for DelayEvents.
func (q *Queues) eventsLater(h Handler) Handler {
	return func(a ami.Message) []ami.Message {
		out := h(a)
		q.mu.Lock()
		d := q.delay
		q.mu.Unlock()
		if d <= 0 || len(out) < 2 {
			return out
		}
		q.pushMu.Lock()
		q.late = append(q.late, out[1:])
		q.pushMu.Unlock()
		time.AfterFunc(d, func() {
			// Every timer pushes the oldest batch: the order holds even
			// when timers fire out of order.
			q.pushMu.Lock()
			defer q.pushMu.Unlock()
			batch := q.late[0]
			q.late = q.late[1:]
			q.srv.Push(batch...)
		})
		return out[:1]
	}
}

// Forget removes a dynamic member without any event, as app_queue does
// when it drops a realtime queue whose lookup failed (a res_config_curl
// timeout) together with its dynamic members; iface "" forgets every
// dynamic member of the queue. It returns how many were forgotten.
func (q *Queues) Forget(queue, iface string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	kept := q.members[:0]
	for _, m := range q.members {
		if m.Queue == queue && m.Membership == "dynamic" && (iface == "" || m.Interface == iface) {
			n++
			continue
		}
		kept = append(kept, m)
	}
	clear(q.members[len(kept):])
	q.members = kept
	return n
}

// Answer is the model's answer to one of the actions it handles, for a test
// that installs its own Handler around it (to hold a QueueStatus, count
// them…). Other actions answer "Invalid/unknown command".
func (q *Queues) Answer(action ami.Message) []ami.Message {
	switch strings.ToLower(action.Get("Action")) {
	case "queueadd":
		return q.queueAdd(action)
	case "queueremove":
		return q.queueRemove(action)
	case "queuepause":
		return q.queuePause(action)
	case "queuestatus":
		return q.queueStatus(action)
	case "coreshowchannels":
		return q.coreShowChannels(action)
	case "devicestatelist":
		return q.deviceStateList(action)
	}
	return []ami.Message{Error("Invalid/unknown command: " + action.Get("Action"))}
}

// SetChannels sets what CoreShowChannels lists (CoreShowChannel events, any
// ActionID field is filled in).
func (q *Queues) SetChannels(items ...ami.Message) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.channels = items
}

// SetDevices sets what DeviceStateList lists, as device → state pairs.
func (q *Queues) SetDevices(kv ...string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.devices = nil
	for i := 0; i+1 < len(kv); i += 2 {
		q.devices = append(q.devices, ami.NewMessage("Event", "DeviceStateChange", "ActionID", "", "Device", kv[i], "State", kv[i+1]))
	}
}

// Pause pauses or unpauses a member from inside Asterisk (CLI `queue pause
// member`, dialplan PauseQueueMember) and raises QueueMemberPause on every
// connection. queue "" means every queue.
func (q *Queues) Pause(queue, iface string, paused bool, reason string) {
	q.mu.Lock()
	var events []ami.Message
	for _, m := range q.members {
		if m.Interface == iface && (queue == "" || m.Queue == queue) {
			m.Paused, m.PausedReason = paused, reason
			if !paused {
				m.PausedReason = ""
			}
			events = append(events, memberEvent("QueueMemberPause", m))
		}
	}
	q.mu.Unlock()
	q.srv.Push(events...)
}

// SetStatus changes the device status of every member whose state interface
// is iface and raises QueueMemberStatus for each, on every connection.
func (q *Queues) SetStatus(stateIface string, status int) {
	q.mu.Lock()
	var events []ami.Message
	for _, m := range q.members {
		if m.StateInterface == stateIface {
			m.Status = status
			events = append(events, memberEvent("QueueMemberStatus", m))
		}
	}
	q.mu.Unlock()
	q.srv.Push(events...)
}

func (q *Queues) find(queue, iface string) *QueueMember {
	for _, m := range q.members {
		if m.Queue == queue && m.Interface == iface {
			return m
		}
	}
	return nil
}

func (q *Queues) queueAdd(a ami.Message) []ami.Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	queue, iface := a.Get("Queue"), a.Get("Interface")
	switch {
	case queue == "" || iface == "":
		return []ami.Message{Error("'Queue' and 'Interface' not set.")}
	case !q.queues[queue]:
		return []ami.Message{Error("Unable to add interface to queue: No such queue")}
	case q.find(queue, iface) != nil:
		return []ami.Message{Error("Unable to add interface: Already there")}
	}
	penalty, _ := strconv.Atoi(a.Get("Penalty"))
	m := &QueueMember{
		Queue: queue, Interface: iface, MemberName: a.Get("MemberName"), StateInterface: a.Get("StateInterface"),
		Membership: "dynamic", Penalty: penalty, Paused: isTrue(a.Get("Paused")), Status: 1, LoginTime: q.now,
	}
	if m.MemberName == "" {
		m.MemberName = iface
	}
	if m.StateInterface == "" {
		m.StateInterface = iface
	}
	// The member's status is its state interface's device state.
	for _, d := range q.devices {
		if d.Get("Device") == m.StateInterface {
			for i, name := range deviceStates {
				if name == d.Get("State") {
					m.Status = i
				}
			}
		}
	}
	if m.Paused {
		m.PausedReason = a.Get("Reason")
	}
	q.members = append(q.members, m)
	return []ami.Message{
		Success("Message", "Added interface to queue"),
		ami.NewMessage("Event", "DeviceStateChange", "Privilege", "call,all", "Device", "Queue:"+queue+"_pause_"+iface, "State", pauseDevice(m.Paused)),
		memberEvent("QueueMemberAdded", m),
	}
}

func (q *Queues) queueRemove(a ami.Message) []ami.Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	queue, iface := a.Get("Queue"), a.Get("Interface")
	if !q.queues[queue] {
		return []ami.Message{Error("Unable to remove interface from queue: No such queue")}
	}
	for i, m := range q.members {
		if m.Queue == queue && m.Interface == iface {
			if m.Membership != "dynamic" {
				return []ami.Message{Error("Unable to remove interface: Member not dynamic")}
			}
			q.members = append(q.members[:i], q.members[i+1:]...)
			return []ami.Message{Success("Message", "Removed interface from queue"), memberEvent("QueueMemberRemoved", m)}
		}
	}
	return []ami.Message{Error("Unable to remove interface: Not there")}
}

func (q *Queues) queuePause(a ami.Message) []ami.Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	queue, iface, reason := a.Get("Queue"), a.Get("Interface"), a.Get("Reason")
	paused := isTrue(a.Get("Paused"))
	var events []ami.Message
	for _, m := range q.members {
		if m.Interface == iface && (queue == "" || m.Queue == queue) {
			m.Paused, m.PausedReason = paused, reason
			if !paused {
				m.PausedReason = ""
			}
			events = append(events,
				ami.NewMessage("Event", "DeviceStateChange", "Privilege", "call,all", "Device", "Queue:"+m.Queue+"_pause_"+iface, "State", pauseDevice(paused)),
				memberEvent("QueueMemberPause", m))
		}
	}
	if len(events) == 0 {
		return []ami.Message{Error("Interface not found")}
	}
	msg := "Interface paused successfully"
	if !paused {
		msg = "Interface unpaused successfully"
	}
	return append([]ami.Message{Success("Message", msg)}, events...)
}

// queuePenalty answers as app_queue does: the member's penalty in queue (or
// in every queue when none is named) is set and QueueMemberPenalty raised.
func (q *Queues) queuePenalty(a ami.Message) []ami.Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	queue, iface := a.Get("Queue"), a.Get("Interface")
	penalty, err := strconv.Atoi(a.Get("Penalty"))
	var events []ami.Message
	for _, m := range q.members {
		if err == nil && penalty >= 0 && m.Interface == iface && (queue == "" || m.Queue == queue) {
			m.Penalty = penalty
			events = append(events, memberEvent("QueueMemberPenalty", m))
		}
	}
	if len(events) == 0 {
		return []ami.Message{Error("Invalid interface, queuename or penalty")}
	}
	return append([]ami.Message{Success("Message", "Interface penalty set successfully")}, events...)
}

func (q *Queues) queueStatus(a ami.Message) []ami.Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	only := a.Get("Queue")
	names := make([]string, 0, len(q.queues))
	for name := range q.queues {
		if only == "" || name == only {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	out := []ami.Message{ami.NewMessage("Response", "Success", "ActionID", "", "EventList", "start", "Message", "Queue status will follow")}
	for _, name := range names {
		out = append(out, ami.NewMessage("Event", "QueueParams", "Queue", name, "Max", "0", "Strategy", "ringall",
			"Calls", "0", "Holdtime", "0", "TalkTime", "0", "Completed", "0", "Abandoned", "0", "ServiceLevel", "0",
			"ServicelevelPerf", "0.0", "ServicelevelPerf2", "0.0", "Weight", "0", "ActionID", ""))
		for _, m := range q.members {
			if m.Queue != name {
				continue
			}
			out = append(out, ami.NewMessage("Event", "QueueMember", "Queue", m.Queue, "Name", m.MemberName,
				"Location", m.Interface, "StateInterface", m.StateInterface, "Membership", m.Membership,
				"Penalty", strconv.Itoa(m.Penalty), "CallsTaken", strconv.Itoa(m.CallsTaken), "LastCall", "0",
				"LastPause", "0", "LoginTime", strconv.FormatInt(m.LoginTime, 10), "InCall", boolDigit(m.InCall),
				"Status", strconv.Itoa(m.Status), "Paused", boolDigit(m.Paused), "PausedReason", m.PausedReason,
				"Wrapuptime", strconv.Itoa(m.Wrapuptime), "ActionID", ""))
		}
	}
	out = append(out, ami.NewMessage("Event", "QueueStatusComplete", "ActionID", "", "EventList", "Complete",
		"ListItems", strconv.Itoa(len(out)-1)))
	return out
}

func (q *Queues) coreShowChannels(ami.Message) []ami.Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := []ami.Message{ami.NewMessage("Response", "Success", "ActionID", "", "EventList", "start", "Message", "Channels will follow")}
	for _, c := range q.channels {
		out = append(out, withEmptyActionID(c))
	}
	return append(out, ami.NewMessage("Event", "CoreShowChannelsComplete", "ActionID", "", "EventList", "Complete",
		"ListItems", strconv.Itoa(len(q.channels))))
}

func (q *Queues) deviceStateList(ami.Message) []ami.Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := []ami.Message{ami.NewMessage("Response", "Success", "ActionID", "", "EventList", "start", "Message", "Device State Changes will follow")}
	out = append(out, q.devices...)
	return append(out, ami.NewMessage("Event", "DeviceStateListComplete", "ActionID", "", "EventList", "Complete",
		"ListItems", strconv.Itoa(len(q.devices))))
}

func withEmptyActionID(m ami.Message) ami.Message {
	if _, ok := m.Lookup("ActionID"); ok {
		return m
	}
	fields := m.Fields()
	// After Event, where CoreShowChannel has it.
	out := append([]ami.Field{fields[0], {Key: "ActionID"}}, fields[1:]...)
	return ami.MessageFromFields(out)
}

// memberEvent renders a QueueMember* event with app_queue's fields in its
// order.
func memberEvent(name string, m *QueueMember) ami.Message {
	return ami.NewMessage("Event", name, "Privilege", "agent,all", "Queue", m.Queue, "MemberName", m.MemberName,
		"Interface", m.Interface, "StateInterface", m.StateInterface, "Membership", m.Membership,
		"Penalty", strconv.Itoa(m.Penalty), "CallsTaken", strconv.Itoa(m.CallsTaken), "LastCall", "0",
		"LastPause", "0", "LoginTime", strconv.FormatInt(m.LoginTime, 10), "InCall", boolDigit(m.InCall),
		"Status", strconv.Itoa(m.Status), "Paused", boolDigit(m.Paused), "PausedReason", m.PausedReason,
		"Ringinuse", "0", "Wrapuptime", strconv.Itoa(m.Wrapuptime))
}

// deviceStates are the device state names by app_queue member Status.
var deviceStates = []string{"UNKNOWN", "NOT_INUSE", "INUSE", "BUSY", "INVALID", "UNAVAILABLE", "RINGING", "RINGINUSE", "ONHOLD"}

func boolDigit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func pauseDevice(paused bool) string {
	if paused {
		return "INUSE"
	}
	return "NOT_INUSE"
}

// isTrue is Asterisk's ast_true: yes, true, y, t, 1 and on, any case.
func isTrue(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "yes", "true", "y", "t", "1", "on":
		return true
	}
	return false
}
