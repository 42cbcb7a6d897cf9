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
