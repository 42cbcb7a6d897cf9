// The WebRTC softphone of webrtc agents: JsSIP registering to Asterisk's
// SIP websocket (OMNICC_SIP_WS_URL) as the agent's PJSIP endpoint (its
// username) with its SIP secret. JsSIP reconnects the socket and registers
// again by itself; this wrapper turns its events into one small state.
import JsSIP from "jssip";

JsSIP.debug.disable("JsSIP:*");

export class Phone {
  constructor({ url, username, secret, onChange }) {
    this.url = url;
    this.username = username;
    this.secret = secret;
    this.onChange = onChange;
    this.state = { registered: false, connected: false, error: "", call: null };
    this.session = null;
    this.audio = new Audio();
    this.audio.autoplay = true;
    this.speakerMuted = false;
    this.micMuted = false;
    this.devices = {};
  }

  // setDevices picks the microphone (next calls) and the speaker (now).
  setDevices(d) {
    this.devices = d || {};
    if (this.audio.setSinkId) this.audio.setSinkId(this.devices.output || "").catch(() => {});
  }

  set(patch) {
    this.state = { ...this.state, ...patch };
    this.onChange(this.state);
  }

  start() {
    const host = new URL(this.url).hostname;
    this.host = host;
    const socket = new JsSIP.WebSocketInterface(this.url);
    this.ua = new JsSIP.UA({
      sockets: [socket],
      uri: `sip:${this.username}@${host}`,
      authorization_user: this.username,
      password: this.secret,
      display_name: this.username,
      register: true,
      register_expires: 300,
      session_timers: false,
      connection_recovery_min_interval: 2,
      connection_recovery_max_interval: 30,
      user_agent: "omnicc-desk",
    });
    this.ua.on("connected", () => this.set({ connected: true }));
    this.ua.on("disconnected", () => this.set({ connected: false, registered: false, error: "SIP websocket down" }));
    this.ua.on("registered", () => this.set({ registered: true, error: "" }));
    this.ua.on("unregistered", () => this.set({ registered: false }));
    this.ua.on("registrationFailed", (e) =>
      this.set({ registered: false, error: `registration failed: ${e.cause || "unknown"}` }),
    );
    this.ua.on("newRTCSession", (e) => this.track(e.session, e.originator));
    this.ua.start();
  }

  stop() {
    try {
      this.session?.terminate();
    } catch {}
    this.ua?.stop();
    this.ua = null;
  }

  track(session, originator) {
    if (originator === "remote" && this.dnd) {
      // Do not disturb during pause (the agent's WebRTC settings).
      session.terminate({ status_code: 486, reason_phrase: "Do Not Disturb" });
      return;
    }
    if (this.session && !this.session.isEnded()) {
      // One call at a time in the page; a second incoming call is refused
      // busy so the queue tries the next agent.
      if (originator === "remote") session.terminate({ status_code: 486 });
      return;
    }
    this.session = session;
    const peer = session.remote_identity?.uri?.user || "";
    const name = session.remote_identity?.display_name || "";
    const call = { direction: originator === "remote" ? "inbound" : "outbound", peer, name, state: "ringing", held: false, since: Date.now() };
    this.set({ call });
    const update = (p) => this.set({ call: { ...this.state.call, ...p } });
    session.on("peerconnection", (e) => this.attachAudio(e.peerconnection));
    if (session.connection) this.attachAudio(session.connection);
    session.on("accepted", () => update({ state: "up", since: Date.now() }));
    session.on("confirmed", () => update({ state: "up" }));
    session.on("hold", () => update({ held: true }));
    session.on("unhold", () => update({ held: false }));
    const end = (e) => {
      if (this.session === session) {
        this.session = null;
        this.set({ call: null, lastCause: e?.cause || "" });
      }
    };
    session.on("ended", end);
    session.on("failed", end);
  }

  attachAudio(pc) {
    pc.addEventListener("track", (e) => {
      if (e.streams[0]) this.audio.srcObject = e.streams[0];
      this.audio.muted = this.speakerMuted;
    });
  }

  options() {
    const audio = this.devices.input ? { deviceId: { exact: this.devices.input } } : true;
    return { mediaConstraints: { audio, video: false }, rtcOfferConstraints: { offerToReceiveAudio: true } };
  }

  call(number) {
    if (!this.ua) return false;
    // One call in the page at a time: a consultation goes through the
    // bar's attended transfer, which Asterisk runs.
    if (this.session && !this.session.isEnded()) return false;
    this.ua.call(`sip:${number}@${this.host}`, this.options());
    return true;
  }
  answer() {
    if (this.session && this.state.call?.state === "ringing" && this.state.call.direction === "inbound") {
      this.session.answer(this.options());
    }
  }
  hangup() {
    try {
      this.session?.terminate();
    } catch {}
  }
  hold(on) {
    if (!this.session) return;
    if (on) this.session.hold();
    else this.session.unhold();
  }
  dtmf(digit) {
    try {
      // RFC 4733 in the media, what Asterisk expects by default (dtmf_mode rfc4733).
      this.session?.sendDTMF(digit, { transportType: "RFC2833" });
    } catch {}
  }
  setMic(muted) {
    this.micMuted = muted;
    if (!this.session) return;
    if (muted) this.session.mute({ audio: true });
    else this.session.unmute({ audio: true });
  }
  setSpeaker(muted) {
    this.speakerMuted = muted;
    this.audio.muted = muted;
  }
}
