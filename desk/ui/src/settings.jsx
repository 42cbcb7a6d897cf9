// Agent settings (seeds: webrtc-bar.txt, "Settings"): profile, services,
// audio devices and the softphone's requirements. Read-only where the
// server decides (auto answer, recording are an admin's settings).
import { useEffect, useState } from "preact/hooks";

const DEVICE_KEY = "omnicc.desk.audio";

export function savedAudio() {
  try {
    return JSON.parse(localStorage.getItem(DEVICE_KEY) || "{}");
  } catch {
    return {};
  }
}

export function Settings({ me, phone, phoneState, wsUp, onClose }) {
  const [tab, setTab] = useState("profile");
  const [devices, setDevices] = useState([]);
  const [audio, setAudio] = useState(savedAudio());
  const [mic, setMic] = useState("unknown");

  useEffect(() => {
    navigator.mediaDevices?.enumerateDevices?.().then(setDevices).catch(() => {});
    navigator.permissions?.query({ name: "microphone" }).then((p) => setMic(p.state), () => {});
  }, []);

  const choose = (kind, id) => {
    const next = { ...audio, [kind]: id };
    setAudio(next);
    localStorage.setItem(DEVICE_KEY, JSON.stringify(next));
    phone?.setDevices?.(next);
  };
  const webrtc = me.typology === "webrtc";
  const checks = [
    ["Secure page (HTTPS) or localhost", window.isSecureContext],
    ["WebRTC in this browser", typeof RTCPeerConnection !== "undefined"],
    ["Microphone access", mic === "granted" ? true : mic === "denied" ? false : null],
    ["omniccd websocket", wsUp],
    ...(webrtc ? [["Softphone registered", !!phoneState?.registered]] : []),
  ];
  const ua = navigator.userAgent;
  const browser = (ua.match(/(Firefox|Edg|Chrome|Safari)\/[\d.]+/) || [ua])[0].replace("Edg/", "Edge/");
  const os = (ua.match(/\(([^)]+)\)/) || ["", "?"])[1];

  return (
    <div class="modal-back" onClick={(e) => e.target === e.currentTarget && onClose()}>
      <section class="panel modal" id="settings" role="dialog" aria-label="Settings">
        <header class="conv-head">
          <h2>Settings</h2>
          <button onClick={onClose} aria-label="Close settings">×</button>
        </header>
        <nav class="tabs" role="tablist">
          {[["profile", "Profile"], ["services", "Services"], ["audio", "Audio"], ["requirements", "Requirements"]].map(([k, l]) => (
            <button key={k} role="tab" class={tab === k ? "on" : ""} aria-selected={tab === k} data-tab={k} onClick={() => setTab(k)}>{l}</button>
          ))}
        </nav>
        {tab === "profile" && (
          <dl class="fields">
            <dt>Full name</dt><dd>{me.full_name}</dd>
            <dt>Username</dt><dd>{me.username}</dd>
            <dt>Internal number</dt><dd>{me.extension}</dd>
            <dt>Typology</dt><dd>{me.typology}</dd>
            <dt>Browser</dt><dd>{browser}</dd>
            <dt>System</dt><dd>{os}</dd>
          </dl>
        )}
        {tab === "services" && (
          <dl class="fields">
            <dt>Auto answer (calls)</dt><dd>{me.webrtc?.auto_answer ? `on, after ${me.webrtc.auto_answer_delay || 0} s` : "off"}</dd>
            {Object.entries(me.channels || {}).filter(([, c]) => c.auto_answer).map(([ch, c]) => (
              <><dt>Auto answer ({ch})</dt><dd>on, after {c.auto_answer_delay || 0} s</dd></>
            ))}
            <dt>Call recording</dt><dd>{me.webrtc?.enable_recording ? "allowed" : "not allowed"}</dd>
            <dt>Do not disturb in pause</dt><dd>{me.webrtc?.dnd_on_pause ? "on" : "off"}</dd>
            <dt>Capacity</dt>
            <dd>{Object.entries(me.channels || {}).map(([ch, c]) => `${ch} ${c.capacity || "∞"}`).join(" · ") || "–"}</dd>
          </dl>
        )}
        {tab === "audio" && (
          <div class="form">
            {!webrtc && <p class="muted">Calls ring your {me.typology === "external" ? "external number" : "phone"}: audio is set there.</p>}
            {webrtc && (
              <>
                <label>
                  Microphone
                  <select value={audio.input || ""} onChange={(e) => choose("input", e.currentTarget.value)}>
                    <option value="">System default</option>
                    {devices.filter((d) => d.kind === "audioinput").map((d, i) => (
                      <option key={d.deviceId} value={d.deviceId}>{d.label || `Microphone ${i + 1}`}</option>
                    ))}
                  </select>
                </label>
                <label>
                  Speaker
                  <select value={audio.output || ""} onChange={(e) => choose("output", e.currentTarget.value)}>
                    <option value="">System default</option>
                    {devices.filter((d) => d.kind === "audiooutput").map((d, i) => (
                      <option key={d.deviceId} value={d.deviceId}>{d.label || `Speaker ${i + 1}`}</option>
                    ))}
                  </select>
                </label>
              </>
            )}
          </div>
        )}
        {tab === "requirements" && (
          <ul class="checks" id="requirements">
            {checks.map(([label, ok]) => (
              <li key={label} class={ok === true ? "ok" : ok === false ? "bad" : "unknown"}>
                <span class="mark">{ok === true ? "✓" : ok === false ? "✗" : "?"}</span> {label}
              </li>
            ))}
          </ul>
        )}
      </section>
    </div>
  );
}
