import { useEffect, useState } from "preact/hooks";

// useNow re-renders every second: timers and countdowns read it.
export function useNow(skew = 0) {
  const [now, setNow] = useState(Date.now() + skew);
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now() + skew), 1000);
    return () => clearInterval(t);
  }, [skew]);
  return now;
}

// hms formats a duration in ms as h:mm:ss (m:ss under an hour).
export function hms(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

export function since(iso, now) {
  return iso ? hms(now - Date.parse(iso)) : "–";
}

export function clock(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

let audioCtx = null;
// beep plays a short two-tone chime (a new offer, an incoming call): no
// sound file to ship, and it works once the agent has clicked the page.
export function beep(times = 1) {
  try {
    audioCtx ||= new (window.AudioContext || window.webkitAudioContext)();
    const t0 = audioCtx.currentTime;
    for (let i = 0; i < times; i++) {
      for (const [j, f] of [880, 660].entries()) {
        const o = audioCtx.createOscillator();
        const g = audioCtx.createGain();
        o.frequency.value = f;
        const t = t0 + i * 0.6 + j * 0.18;
        g.gain.setValueAtTime(0.0001, t);
        g.gain.exponentialRampToValueAtTime(0.2, t + 0.02);
        g.gain.exponentialRampToValueAtTime(0.0001, t + 0.16);
        o.connect(g).connect(audioCtx.destination);
        o.start(t);
        o.stop(t + 0.17);
      }
    }
  } catch {}
}

export function fullName(c) {
  return [c.first_name, c.last_name].filter(Boolean).join(" ") || c.company || c.phone || c.mobile || `#${c.id}`;
}

export const uid = () =>
  crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`;

// Masking as the server does it (contacts/mask.go), for what reaches a
// masked agent unmasked (REST answers): the page never shows more than
// the websocket would. Values already masked are left as they are.
const DOTS = "•••";
const digitsOf = (s) => s.replace(/\D/g, "");
function maskWord(s) {
  return s ? [...s][0] + DOTS : "";
}
export function maskNumber(s) {
  const d = digitsOf(s);
  if (!d) return "";
  if (d.length <= 4) return DOTS;
  const head = s.trim().startsWith("+") && d.length > 8 ? `+${d.slice(0, 2)} ` : "";
  return `${head}${DOTS} ${DOTS} ${d.slice(-4)}`;
}
export function maskName(s) {
  return (s || "").split(/\s+/).filter(Boolean).map(maskWord).join(" ");
}
export function maskIdentity(s) {
  s = (s || "").trim();
  const d = digitsOf(s);
  if (!s) return "";
  if (s.includes("@")) {
    const [local, domain] = s.split("@");
    return `${maskWord(local)}@${domain}`;
  }
  if (d.length >= 5 && d.length * 2 >= [...s].length) return maskNumber(s);
  return maskWord(s);
}

// customerLabel is how an interaction's customer is shown to this agent.
export function customerLabel(it, masked) {
  const name = it.customer_name || "";
  const id = it.customer || "";
  if (!masked) return name || id || `#${it.id}`;
  if (name) return name.includes(DOTS) ? name : maskName(name);
  return id.includes(DOTS) ? id : maskIdentity(id) || `#${it.id}`;
}
