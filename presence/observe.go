package presence

// Several instances share one database, and each Asterisk box is led by
// one of them (leader role ami:<box>): its tracker applies the box's
// events through ApplyVoice and Resync, writes the history they make,
// counts them, publishes the agent_state events and reconciles the box.
// Every other instance hears the same events on its own AMI connection to
// the box and feeds them to an Observer, so that its memory — an agent's
// calls, memberships and device, which its REST answers, its router and
// the snapshot a new websocket gets read — is as right as the leader's,
// without writing, counting or publishing any of it a second time.

// Observer applies the facts of a box another instance leads to memory
// only. It is an ami.AgentStates.
type Observer struct{ s *Service }

// Observer returns the Service's Observer.
func (s *Service) Observer() *Observer { return &Observer{s: s} }

// ApplyVoice applies one fact to memory only.
func (o *Observer) ApplyVoice(f *VoiceFact) { o.s.applyVoice(f, true) }

// Mark is Service.Mark.
func (o *Observer) Mark() uint64 { return o.s.Mark() }

// Resync applies what a read of the box found to memory only.
func (o *Observer) Resync(snap *Snapshot) { o.s.resync(snap, true) }

// ReconcilePlan is empty: the box's leader reconciles it.
func (o *Observer) ReconcilePlan(*Snapshot) []Correction { return nil }

// observeLocked turns memory-only application on or off; s.mu is held.
func (s *Service) observeLocked(on bool) {
	s.observing = on
	s.hist.mu.Lock()
	s.hist.muted = on
	s.hist.mu.Unlock()
}
