// The live event websocket (/api/v1/ws): reconnects by itself with backoff
// and tells its listeners whether it is up, so the page can show a banner.
import { getSession } from "./api.js";

export class EventStream {
  constructor() {
    this.listeners = new Set();
    this.statusListeners = new Set();
    this.ws = null;
    this.retry = 0;
    this.stopped = false;
    this.up = false;
    this.clockSkew = 0; // server time minus browser time, ms
  }

  on(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
  onStatus(fn) {
    this.statusListeners.add(fn);
    return () => this.statusListeners.delete(fn);
  }
  send(msg) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  start() {
    this.stopped = false;
    this.connect();
  }
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.ws?.close(1000, "logout");
    this.ws = null;
  }

  setUp(up) {
    if (this.up === up) return;
    this.up = up;
    for (const fn of this.statusListeners) fn(up);
  }

  connect() {
    const token = getSession()?.token;
    if (!token || this.stopped) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/api/v1/ws`, ["omnicc.v1", `omnicc.bearer.${token}`]);
    this.ws = ws;
    ws.onmessage = (m) => {
      let ev;
      try {
        ev = JSON.parse(m.data);
      } catch {
        return;
      }
      if (ev.type === "pong") this.lastPong = Date.now();
      if (ev.type === "hello") {
        this.retry = 0;
        this.lastPong = Date.now();
        // Only a real difference counts: server_time may be cut to the
        // second, and timers must not jump by one for that.
        if (ev.server_time) {
          const skew = Date.parse(ev.server_time) - Date.now();
          this.clockSkew = Math.abs(skew) > 2000 ? skew : 0;
        }
        this.setUp(true);
      }
      for (const fn of this.listeners) fn(ev);
    };
    // A browser cannot see websocket pings: an application ping every 25 s
    // finds a connection that died without a close (a laptop's sleep, a
    // NAT dropping it) and replaces it.
    const keepalive = setInterval(() => {
      if (ws.readyState !== WebSocket.OPEN) return;
      if (Date.now() - this.lastPong > 60000) {
        ws.close(4000, "no pong");
        return;
      }
      ws.send(JSON.stringify({ type: "ping" }));
    }, 25000);
    ws.onclose = () => {
      clearInterval(keepalive);
      if (this.ws !== ws) return;
      this.ws = null;
      this.setUp(false);
      if (this.stopped) return;
      // 0.5 s, 1 s, 2 s … up to 15 s, with jitter so a restart is not stormed.
      const delay = Math.min(15000, 500 * 2 ** this.retry) * (0.75 + Math.random() / 2);
      this.retry++;
      this.timer = setTimeout(() => this.connect(), delay);
    };
  }
}
