// The agent bar (seeds: webrtc-bar.txt): softphone status and toggles,
// number field with dialpad, call controls, login/logout, pause with a
// pause type, the connection and pause timers, and partial pause.
import { useEffect, useState } from "preact/hooks";
import { get, post } from "./api.js";
import { since, hms } from "./util.js";
import { Bell, Mic, Pad, Speaker } from "./icons.jsx";

const STATE_LABEL = {
  logged_out: "Logged out",
  ready: "Ready",
  paused: "Paused",
  ringing: "Ringing",
  on_call: "On call",
  on_hold: "On hold",
  wrap_up: "Wrap-up",
  unavailable: "Unavailable",
};
const DIAL_OK = /^[0-9*#+\-.()[\]{} ]+$/;
const PAD = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"];
const RECENT_KEY = "omnicc.desk.recent";

function recentNumbers() {
  try {
    return JSON.parse(localStorage.getItem(RECENT_KEY) || "[]");
  } catch {
    return [];
  }
}

function remember(number) {
  const list = [number, ...recentNumbers().filter((n) => n !== number)].slice(0, 15);
  localStorage.setItem(RECENT_KEY, JSON.stringify(list));
}

// useSuggestions offers the recent numbers matching what is typed and, for
// letters, the contacts whose name matches (their phone or mobile).
function useSuggestions(text) {
  const [contacts, setContacts] = useState([]);
  const q = text.trim();
  const byName = /[a-z]/i.test(q) && q.length >= 2;
  useEffect(() => {
    if (!byName) {
      setContacts([]);
      return;
    }
    let live = true;
    const t = setTimeout(() => {
      get(`/contacts?q=${encodeURIComponent(q)}&per_page=8`)
        .then((r) => live && setContacts(r?.items || []))
        .catch(() => {});
    }, 250);
    return () => {
      live = false;
      clearTimeout(t);
    };
  }, [q]);
  const recent = recentNumbers().filter((n) => !q || byName || n.includes(q.replace(/[^0-9*#+]/g, "")));
  const fromContacts = contacts.flatMap((c) =>
    [c.mobile, c.phone].filter(Boolean).map((n) => ({ value: n, label: [c.first_name, c.last_name].filter(Boolean).join(" ") || c.company })),
  );
  return [...fromContacts, ...recent.map((n) => ({ value: n, label: "recent" }))];
}

// barChannels are the channels the agent works on (its queues' channels;
// the seeds: "only the enabled channels"), plus any it is paused on.
export function barChannels(state, mine) {
  const chans = [...(mine || [])];
  for (const c of state?.paused_channels || []) if (!chans.includes(c)) chans.push(c);
  return chans.length ? chans : ["voice"];
}

export function Bar({ me, state, channels, recordings, onRecording, pauseTypes, phone, phoneState, now, notify }) {
  const id = me.id;
  const webrtc = me.typology === "webrtc";
  const [number, setNumber] = useState("");
  const [pad, setPad] = useState(false);
  const [pauseType, setPauseType] = useState("");
  const [menu, setMenu] = useState(""); // "", "pause", "partial", "transfer", "record"
  const [pauseOn, setPauseOn] = useState(null); // channels chosen for a partial pause
  const [target, setTarget] = useState("");
  const [consult, setConsult] = useState(false);
  const [ring, setRing] = useState(true);
  const suggestions = useSuggestions(number);
  const [speaker, setSpeaker] = useState(true);
  const [mic, setMic] = useState(true);

  const loggedIn = !!state?.logged_in;
  const paused = (state?.paused_channels || []).length > 0;
  const chans = barChannels(state, channels);
  const restCall = (state?.calls || [])[0] || state?.call || null;
  const channel = restCall?.channel || "";
  const softCall = webrtc ? phoneState?.call : null;
  const inCall = !!(softCall || restCall);

  const act = async (fn, what) => {
    try {
      await fn();
    } catch (e) {
      notify(`${what}: ${e.message}`, "error");
    }
  };

  const login = () => act(() => post(`/agents/${id}/login`), "Login");
  const logout = () => act(() => post(`/agents/${id}/logout`), "Logout");
  const pause = () => {
    if (!pauseType) {
      notify("Choose a pause type first", "error");
      return;
    }
    const channels = pauseOn && pauseOn.length < chans.length ? pauseOn : undefined;
    setMenu("");
    return act(() => post(`/agents/${id}/pause`, { reason: Number(pauseType), channels }), "Pause");
  };
  const unpause = (channels) => {
    setMenu("");
    return act(() => post(`/agents/${id}/unpause`, channels ? { channels } : {}), "Resume");
  };

  const dial = () => {
    const n = number.trim();
    if (!n) return;
    if (!DIAL_OK.test(n)) {
      notify("Choose a contact from the list, or type a number: digits, spaces and * # + - . ( ) [ ] { }", "error");
      return;
    }
    const digits = n.replace(/[^0-9*#+]/g, "");
    remember(digits);
    if (webrtc) {
      if (!phoneState?.registered) {
        notify("The softphone is not registered: the call cannot start", "error");
        return;
      }
      if (!phone.call(digits)) notify("End the current call first, or use Transfer → Attended to consult", "error");
    } else {
      act(() => post(`/agents/${id}/calls`, { number: digits }), "Call");
    }
  };
  const hangup = () => {
    if (softCall) phone.hangup();
    else if (channel) act(() => post(`/agents/${id}/calls/hangup`, { channel }), "Hang up");
  };
  const held = softCall ? softCall.held : restCall?.state === "on_hold";
  const hold = () => {
    if (softCall) phone.hold(!held);
    else if (channel) act(() => post(`/agents/${id}/calls/${held ? "unhold" : "hold"}`, { channel }), "Hold");
  };
  const needChannel = (what) => {
    if (!channel) {
      notify(`${what}: omniccd does not see this call's channel yet (is AMI connected?)`, "error");
      return false;
    }
    return true;
  };
  const transfer = (kind) => {
    if (!target.trim() || !needChannel("Transfer")) return;
    const path = kind === "blind" ? "blind-transfer" : kind === "conference" ? "conference" : "attended-transfer";
    act(async () => {
      await post(`/agents/${id}/calls/${path}`, { channel, number: target.trim() });
      if (kind === "attended") setConsult(true);
      else setMenu("");
    }, "Transfer");
  };
  const consultDone = (how) =>
    act(async () => {
      await post(`/agents/${id}/calls/attended-transfer/${how}`, { channel });
      setConsult(false);
      setMenu("");
    }, "Transfer");
  // The call's recordings (at most two), manual or automatic, as the
  // websocket's recording events and the answers to our actions tell.
  const recs = Object.values(recordings || {}).filter((r) => r.state !== "stopped" && channel && r.channel === channel).sort((a, b) => a.slot - b.slot);
  const recordingNow = recs.some((r) => r.state === "recording");
  const record = (what, rec) => {
    if (!needChannel("Recording")) return;
    act(async () => {
      const r = what === "start" ? await post(`/agents/${id}/recordings`, { channel }) : await post(`/recordings/${rec.id}/${what}`);
      if (r?.id) onRecording(r);
    }, "Recording");
  };

  const label = STATE_LABEL[state?.state] || state?.state || "…";
  const pauseName = state?.reason && paused ? `: ${state.reason}` : "";
  const partial = paused && state.paused_channels.length < chans.length;

  return (
    <section id="bar" class={`bar state-${state?.state || "unknown"}`} aria-label="Agent bar">
      <div class="bar-group">
        {webrtc ? (
          <span
            id="sip-dot"
            class={`dot ${phoneState?.registered ? "ok" : "bad"}`}
            data-registered={phoneState?.registered ? "yes" : "no"}
            title={phoneState?.registered ? "Softphone registered" : `Softphone not registered${phoneState?.error ? `: ${phoneState.error}` : ""}`}
          />
        ) : (
          <span class="typology" title="Calls ring your phone; the bar drives them through omniccd">
            {me.typology === "external" ? `External ${me.external_number || ""}` : me.typology === "mobile" ? "Mobile" : "Phonebar"}
          </span>
        )}
        {webrtc && (
          <>
            <button class={`icon ${ring ? "" : "off"}`} title="Toggle ringtone" aria-pressed={ring} onClick={() => { setRing(!ring); phone && (phone.ringtone = !ring); }}><Bell /></button>
            <button class={`icon ${speaker ? "" : "off"}`} title="Toggle speaker" aria-pressed={speaker} onClick={() => { setSpeaker(!speaker); phone?.setSpeaker(speaker); }}><Speaker /></button>
            <button class={`icon ${mic ? "" : "off"}`} title="Toggle microphone" aria-pressed={mic} onClick={() => { setMic(!mic); phone?.setMic(mic); }}><Mic /></button>
          </>
        )}
      </div>

      <div class="bar-group dial">
        <input
          id="dial-number"
          type="text"
          placeholder="Number or name"
          list="dial-suggestions"
          autocomplete="off"
          value={number}
          onInput={(e) => setNumber(e.currentTarget.value)}
          onKeyDown={(e) => e.key === "Enter" && dial()}
          aria-label="Number to call"
        />
        <datalist id="dial-suggestions">
          {suggestions.map((o) => (
            <option key={o.value + o.label} value={o.value} label={o.label} />
          ))}
        </datalist>
        <button class="icon" title="Dialpad" aria-expanded={pad} onClick={() => setPad(!pad)}><Pad /></button>
        <button id="btn-call" class="good" title="Call (Enter)" onClick={dial} disabled={!number.trim()}>Call</button>
        {pad && (
          <div class="dialpad" role="group" aria-label="Dialpad">
            {PAD.map((d) => (
              <button key={d} onClick={() => { setNumber(number + d); if (softCall) phone.dtmf(d); }}>{d}</button>
            ))}
          </div>
        )}
      </div>

      {inCall && (
        <div class="bar-group call" id="call-panel">
          <span class="peer" title="Other party">
            {(softCall?.direction || restCall?.direction) === "outbound" ? "→ " : "← "}
            {softCall?.name || softCall?.peer || restCall?.caller_name || restCall?.peer || restCall?.caller || "call"}
          </span>
          <span class="call-state">{softCall ? (softCall.held ? "on hold" : softCall.state) : restCall?.state}</span>
          <span class="timer">{hms(now - (softCall?.since || Date.parse(restCall?.since || "") || now))}</span>
          {softCall?.state === "ringing" && softCall.direction === "inbound" && (
            <button id="btn-answer" class="good" title="Answer (Alt+A)" onClick={() => phone.answer()}>Answer</button>
          )}
          <button id="btn-hold" onClick={hold} title="Hold / resume">{held ? "Resume" : "Hold"}</button>
          <button id="btn-hangup" class="bad" title="End (Alt+H)" onClick={hangup}>End</button>
          <button id="btn-transfer" title="Transfer or conference" class={menu === "transfer" ? "on" : ""} onClick={() => setMenu(menu === "transfer" ? "" : "transfer")}>Transfer</button>
          {(me.webrtc?.enable_recording || recs.length > 0) && (
            <button id="btn-record" class={recordingNow ? "rec on" : "rec"} title={recordingNow ? "Recording" : "Record the call"} onClick={() => setMenu(menu === "record" ? "" : "record")}>● Rec</button>
          )}
          {menu === "transfer" && (
            <div class="popover" role="dialog" aria-label="Transfer">
              <input placeholder="Number or extension" value={target} onInput={(e) => setTarget(e.currentTarget.value)} />
              {consult ? (
                <>
                  <button id="btn-xfer-complete" class="good" onClick={() => consultDone("complete")}>Complete transfer</button>
                  <button id="btn-xfer-cancel" onClick={() => consultDone("cancel")}>Back to caller</button>
                </>
              ) : (
                <>
                  <button onClick={() => transfer("blind")} title="Blind transfer">Blind</button>
                  <button onClick={() => transfer("attended")} title="Consult first, then transfer">Attended</button>
                  <button class="warn" onClick={() => transfer("conference")} title="Three-way conference">Conference</button>
                </>
              )}
            </div>
          )}
          {menu === "record" && (
            <div class="popover" role="dialog" aria-label="Recording">
              {recs.map((r) => (
                <div class="row" key={r.id} data-recording={r.id}>
                  <span class={r.state === "recording" ? "rec-live" : "muted"}>#{r.slot} {r.state}{r.source !== "manual" ? ` (${r.source})` : ""}</span>
                  <button onClick={() => record(r.state === "paused" ? "resume" : "pause", r)}>{r.state === "paused" ? "Resume" : "Pause"}</button>
                  <button class="bad" onClick={() => record("stop", r)}>Stop</button>
                </div>
              ))}
              {recs.length < 2 && <button id="btn-record-start" onClick={() => record("start")}>+ New recording</button>}
            </div>
          )}
        </div>
      )}

      <div class="bar-group session">
        <span id="agent-state" class={`pill ${state?.state || ""}`} data-state={state?.state || ""}>
          {label}
          {pauseName}
          {partial ? ` (${state.paused_channels.join(", ")})` : ""}
        </span>
        <span class="timers">
          <span id="timer-connection" title="Connection time">{loggedIn ? since(state.logged_in_at, now) : "0:00"}</span>
          <span id="timer-pause" class={paused ? "paused" : ""} title="Pause time">{paused ? since(state.paused_since, now) : "0:00"}</span>
        </span>
        {!loggedIn ? (
          <button id="btn-login" class="good" onClick={login}>Log in</button>
        ) : (
          <>
            {paused ? (
              <span class="split">
                <button id="btn-unpause" class="good" title="End the pause on every channel" onClick={() => unpause()}>▶ Resume</button>
                <button id="btn-partial" title="End the pause on some channels" aria-expanded={menu === "partial"} onClick={() => setMenu(menu === "partial" ? "" : "partial")}>▾</button>
              </span>
            ) : (
              <button id="btn-pause-menu" title="Pause" aria-expanded={menu === "pause"} onClick={() => { setMenu(menu === "pause" ? "" : "pause"); setPauseOn(chans); }}>❚❚ Pause</button>
            )}
            <button id="btn-logout" onClick={logout}>Log out</button>
          </>
        )}
        {menu === "pause" && (
          <div class="popover right" role="dialog" aria-label="Pause">
            <label>
              Pause type
              <select id="pause-type" value={pauseType} onChange={(e) => setPauseType(e.currentTarget.value)}>
                <option value="">Choose…</option>
                {pauseTypes.map((p) => (
                  <option key={p.id} value={p.id}>{p.name}</option>
                ))}
              </select>
            </label>
            <fieldset>
              <legend>Channels</legend>
              {chans.map((c) => (
                <label key={c} class="check">
                  <input
                    type="checkbox"
                    name="pause-channel"
                    value={c}
                    checked={(pauseOn || chans).includes(c)}
                    onChange={(e) => {
                      const cur = pauseOn || chans;
                      setPauseOn(e.currentTarget.checked ? [...cur, c] : cur.filter((x) => x !== c));
                    }}
                  />
                  {c}
                </label>
              ))}
            </fieldset>
            <button id="btn-pause" class="warn" onClick={pause} disabled={!pauseType || (pauseOn && !pauseOn.length)}>Pause</button>
          </div>
        )}
        {menu === "partial" && (
          <div class="popover right" role="dialog" aria-label="Resume some channels">
            <p>Back to ready on:</p>
            {state.paused_channels.map((c) => (
              <button key={c} class="good" data-resume={c} onClick={() => unpause([c])}>▶ {c}</button>
            ))}
          </div>
        )}
      </div>
    </section>
  );
}
