package ami

import (
	"fmt"

	"omnicc/calls"
)

// An attended transfer as omniccd started it (AMI Atxfer) and Asterisk's
// events carry it on. Asterisk has no action that says whether a channel is
// consulting, and completing is a hang-up of the transferer: a complete with
// no consultation going on would hang the customer up. So Voice remembers
// the consultations it started, and the tracker's events (Voice.Observe)
// end them.
type consultation struct {
	box string
	// origBridge is the bridge the transferer left for the consultation
	// (its first BridgeLeave after Atxfer): coming back into it means the
	// consultation is over (cancelled, or the target never answered).
	origBridge string
}

func (v *Voice) startConsultation(box, channel string) {
	v.consultMu.Lock()
	defer v.consultMu.Unlock()
	v.consults[channel] = &consultation{box: box}
}

func (v *Voice) endConsultation(channel string) {
	v.consultMu.Lock()
	defer v.consultMu.Unlock()
	delete(v.consults, channel)
}

// Consulting reports whether an attended transfer omniccd started from
// channel is going on.
func (v *Voice) Consulting(channel string) bool { return v.consulting(channel) == nil }

// consulting refuses, as calls.ErrNoConsultation naming channel, a
// complete or cancel of a consultation that is not going on.
func (v *Voice) consulting(channel string) error {
	v.consultMu.Lock()
	defer v.consultMu.Unlock()
	if _, ok := v.consults[channel]; ok {
		return nil
	}
	return &calls.Refusal{Err: calls.ErrNoConsultation, Field: "channel",
		Message: fmt.Sprintf("no attended transfer is going on for %s (none started, or it already ended); start one with POST /agents/{id}/calls/attended-transfer", channel)}
}

// Observe follows the consultations through the events of box: the
// tracker passes it Hangup, AttendedTransfer, BridgeEnter and BridgeLeave.
// It only takes a lock when a consultation is going on.
func (v *Voice) Observe(box string, m Message) {
	v.consultMu.Lock()
	defer v.consultMu.Unlock()
	if len(v.consults) == 0 {
		return
	}
	switch m.Event() {
	case "Hangup":
		delete(v.consults, m.Get("Channel"))
	case "AttendedTransfer":
		// Done, whatever its Result: the transferer's part is over.
		delete(v.consults, m.Get("OrigTransfererChannel"))
		delete(v.consults, m.Get("SecondTransfererChannel"))
	case "BridgeLeave":
		if c := v.consults[m.Get("Channel")]; c != nil && c.origBridge == "" && c.box == box {
			c.origBridge = m.Get("BridgeUniqueid")
		}
	case "BridgeEnter":
		if c := v.consults[m.Get("Channel")]; c != nil && c.origBridge != "" && c.origBridge == m.Get("BridgeUniqueid") {
			delete(v.consults, m.Get("Channel"))
		}
	}
}
