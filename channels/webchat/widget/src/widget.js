// The omnicc web chat widget. A site embeds
//   <script src="BASE/chat/widget.js" data-omnicc-website="TOKEN" async></script>
// and gets a launcher button, a chat panel (in a shadow root, so neither
// side's CSS leaks into the other) and window.omnicc.chat.
//
// The database is the truth: every message the page shows came from the
// server with its seq; the socket only brings them sooner. A reload or a
// second tab resumes with the session token kept in localStorage, and a
// reconnect asks for everything after the last seq it has.
import { css } from "./style.js";
import { Outbox, newClientID } from "./outbox.js";

(function () {
  const script =
    document.currentScript || document.querySelector("script[data-omnicc-website]");
  if (!script) return;
  const token = script.getAttribute("data-omnicc-website") || "";
  const base = script.src.replace(/\/chat\/widget\.js(\?.*)?$/, "");
  const storeKey = "omnicc.chat." + token;
  const root = (window.omnicc = window.omnicc || {});
  if (root.chat) return; // the snippet twice on one page

  // ---- state
  let session = load("session");
  let site = null;
  let conv = { interaction_id: 0, status: "new", agent: null, last_seq: 0, read_seq: 0 };
  const bySeq = new Map(); // seq → message, the stored conversation
  let lastSeq = 0;
  let ws = null;
  let wsOpen = false;
  let retry = 0;
  let ready = false;
  let isOpen = load("open") === "1"; // a reload keeps the panel as it was
  let typingUntil = 0;
  let typingName = "";
  let lastTypingSent = 0;
  let ackTimer = 0;
  const handlers = { message: [], ready: [], open: [], close: [] };
  let socketNo = 0; // counts the sockets opened, for the outbox
  const outbox = new Outbox(sendFrame, postMessage, () => (wsOpen ? socketNo : 0), (list) => save("outbox", JSON.stringify(list)));

  function load(k) {
    try {
      return localStorage.getItem(storeKey + "." + k) || "";
    } catch (e) {
      return "";
    }
  }
  function save(k, v) {
    try {
      localStorage.setItem(storeKey + "." + k, v);
    } catch (e) {
      /* private mode: the session lasts as long as the page */
    }
  }
  function emit(type, arg) {
    for (const fn of handlers[type] || []) {
      try {
        fn(arg);
      } catch (e) {
        console.error(e);
      }
    }
  }

  // ---- HTTP: text/plain bodies keep the calls CORS-simple (no preflight).
  async function call(method, path, body) {
    const res = await fetch(base + path, {
      method,
      headers: body ? { "Content-Type": "text/plain" } : {},
      body: body ? JSON.stringify(body) : undefined,
      credentials: "omit",
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) {
      const err = new Error((data.error && data.error.message) || res.statusText);
      err.status = res.status;
      throw err;
    }
    return data;
  }
  function postMessage(m) {
    return call("POST", "/chat/messages", { session, client_id: m.client_id, body: m.body, attachments: m.attachments });
  }

  async function start() {
    let s;
    try {
      s = await call("POST", "/chat/sessions", { website: token, session });
    } catch (e) {
      if (e.status === 404 || e.status === 403) {
        console.warn("omnicc chat: this page may not use this chat (" + e.message + ")");
        return;
      }
      setTimeout(start, backoff());
      return;
    }
    if (s.session !== session) save("outbox", "[]"); // a new visitor: nothing of the old one's
    session = s.session;
    save("session", session);
    // Messages the page had not got stored before a reload go out again
    // with their client ids: stored once whatever happened before.
    let kept = [];
    try {
      kept = JSON.parse(load("outbox") || "[]");
    } catch (e) {
      /* ignore a damaged copy */
    }
    for (const m of kept) if (m && m.client_id) outbox.add(m).catch(() => {});
    site = s.website;
    conv = s.conversation;
    build();
    connect();
  }

  function backoff() {
    retry = Math.min(retry + 1, 6);
    return Math.min(10000, 250 * 2 ** retry) * (0.5 + Math.random() / 2);
  }

  // ---- the socket
  function connect() {
    const url =
      base.replace(/^http/, "ws") +
      "/chat/ws?session=" + encodeURIComponent(session) + "&after_seq=" + lastSeq;
    ws = new WebSocket(url);
    ws.onopen = () => {
      wsOpen = true;
      socketNo++;
      retry = 0;
      outbox.flush();
    };
    ws.onmessage = (ev) => {
      let f;
      try {
        f = JSON.parse(ev.data);
      } catch (e) {
        return;
      }
      onFrame(f);
    };
    ws.onclose = () => {
      wsOpen = false;
      ws = null;
      setTimeout(connect, backoff());
      // Meanwhile messages go over HTTP.
      setTimeout(() => outbox.flush(), 1000);
    };
  }
  function sendFrame(f) {
    if (!wsOpen) return false;
    ws.send(JSON.stringify(f));
    return true;
  }

  function onFrame(f) {
    switch (f.type) {
      case "message":
        addMessage(f.message);
        break;
      case "sent":
        outbox.done(f.client_id, f.message);
        addMessage(f.message);
        break;
      case "error":
        outbox.fail(f.client_id, f.error);
        break;
      case "conversation":
        conv = f.conversation;
        if (!ready) {
          ready = true;
          emit("ready", api);
        }
        break;
      case "typing":
        typingName = (f.agent && f.agent.name) || "";
        typingUntil = Date.now() + 4000;
        setTimeout(render, 4100);
        break;
    }
    render();
  }

  function addMessage(m) {
    if (!m || !m.seq) return;
    const known = bySeq.get(m.seq);
    bySeq.set(m.seq, m);
    if (m.seq > lastSeq) lastSeq = m.seq;
    if (m.client_id) outbox.done(m.client_id, m);
    if (!known) {
      emit("message", Object.assign({}, m));
      if (m.direction === "out") {
        typingUntil = 0;
        scheduleAck();
      }
    }
  }

  // Delivered as soon as the page has an agent's message; read once the
  // panel shows it.
  function scheduleAck() {
    clearTimeout(ackTimer);
    ackTimer = setTimeout(() => {
      let last = 0;
      for (const m of bySeq.values()) if (m.direction === "out" && m.seq > last) last = m.seq;
      if (last) sendFrame({ type: "ack", seq: last, read: isOpen && document.visibilityState === "visible" });
    }, 300);
  }
  document.addEventListener("visibilitychange", () => isOpen && scheduleAck());

  function messages() {
    return [...bySeq.values()].sort((a, b) => a.seq - b.seq).map((m) => Object.assign({}, m));
  }

  // ---- the API (SPEC: window.omnicc.chat)
  function send(text, attachments) {
    const body = String(text == null ? "" : text);
    if (!body.trim() && !(attachments && attachments.length)) return Promise.reject(new Error("empty message"));
    const p = outbox.add({ client_id: newClientID(), body, attachments: attachments || [] });
    render();
    return p;
  }
  function whenReady() {
    return ready ? Promise.resolve() : new Promise((r) => handlers.ready.push(() => r()));
  }
  const api = {
    open() {
      isOpen = true;
      save("open", "1");
      render();
      if (ui) ui.input.focus();
      scheduleAck();
      emit("open");
    },
    close() {
      isOpen = false;
      save("open", "0");
      render();
      if (ui) ui.launcher.focus();
      emit("close");
    },
    send,
    on(type, fn) {
      if (!handlers[type]) handlers[type] = [];
      handlers[type].push(fn);
      if (type === "ready" && ready) fn(api);
    },
    off(type, fn) {
      handlers[type] = (handlers[type] || []).filter((f) => f !== fn);
    },
    messages,
    identify(who) {
      return whenReady().then(() =>
        call("POST", "/chat/identify", Object.assign({ session }, pick(who, ["user_id", "user_hash", "name", "email"]))),
      );
    },
  };
  root.chat = api;

  function pick(o, keys) {
    const out = {};
    for (const k of keys) if (o && o[k] != null) out[k] = String(o[k]);
    return out;
  }

  // ---- the UI
  let ui = null;
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) {
      if (k.startsWith("on")) e.addEventListener(k.slice(2), attrs[k]);
      else e.setAttribute(k, attrs[k]);
    }
    for (const k of kids) if (k != null) e.append(k);
    return e;
  }

  const ICON_CLIP =
    '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round"/></svg>';
  const ICON_SMILE =
    '<svg viewBox="0 0 24 24" aria-hidden="true"><circle cx="12" cy="12" r="9" fill="none" stroke="currentColor" stroke-width="1.8"/><circle cx="9" cy="10" r="1.2" fill="currentColor"/><circle cx="15" cy="10" r="1.2" fill="currentColor"/><path d="M8 14.5a4.5 4.5 0 0 0 8 0" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round"/></svg>';
  const EMOJI = ["😀", "😂", "😊", "😍", "👍", "🙏", "👋", "🎉", "😢", "😮", "❤️", "✅"];

  function build() {
    if (ui) return;
    const host = el("div", { id: "omnicc-chat" });
    const shadow = host.attachShadow({ mode: "open" });
    shadow.append(el("style", {}, css));
    const launcher = el("button", { class: "launcher", type: "button", "aria-label": "Open chat", "aria-expanded": "false", onclick: () => (isOpen ? api.close() : api.open()) });
    launcher.innerHTML = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 4h16v12H7l-3 3z" fill="currentColor"/></svg>';
    const title = el("h2", { id: "omnicc-title" });
    const status = el("p", { class: "status", "aria-live": "polite" });
    const closeBtn = el("button", { class: "close", type: "button", "aria-label": "Close chat", onclick: () => api.close() }, "×");
    const log = el("ol", { class: "log", role: "log", "aria-live": "polite", "aria-label": "Conversation", tabindex: "0" });
    const typing = el("p", { class: "typing", "aria-live": "polite" });
    const error = el("p", { class: "error", role: "alert" });
    const input = el("textarea", { rows: "1", "aria-label": "Message", placeholder: "Write a message…", maxlength: "4000" });
    const file = el("input", { type: "file", class: "file", "aria-label": "Attach a file", tabindex: "-1" });
    // Icons are drawn, not emoji: a machine without an emoji font would
    // show empty boxes.
    const attach = el("button", { type: "button", class: "icon", "aria-label": "Attach a file", onclick: () => file.click() });
    attach.innerHTML = ICON_CLIP;
    const emojiBtn = el("button", { type: "button", class: "icon", "aria-label": "Insert an emoji", "aria-expanded": "false" });
    emojiBtn.innerHTML = ICON_SMILE;
    const emojis = el("div", { class: "emojis", role: "group", "aria-label": "Emoji", hidden: "" });
    for (const e of EMOJI)
      emojis.append(el("button", { type: "button", "aria-label": e, onclick: () => { insert(e); toggleEmoji(false); } }, e));
    function toggleEmoji(show) {
      emojis.hidden = !show;
      emojiBtn.setAttribute("aria-expanded", String(show));
      if (show) emojis.firstChild.focus();
    }
    emojiBtn.addEventListener("click", () => toggleEmoji(emojis.hidden));
    function insert(t) {
      const s = input.selectionStart, e = input.selectionEnd;
      input.value = input.value.slice(0, s) + t + input.value.slice(e);
      input.focus();
      input.selectionStart = input.selectionEnd = s + t.length;
    }
    const sendBtn = el("button", { type: "submit", class: "send", "aria-label": "Send" }, "Send");
    const form = el("form", { class: "compose", onsubmit: (ev) => { ev.preventDefault(); submit(); } },
      attach, emojiBtn, input, sendBtn, file);
    const panel = el("section", { class: "panel", role: "dialog", "aria-labelledby": "omnicc-title", hidden: "" },
      el("header", {}, el("div", {}, title, status), closeBtn), log, typing, error, emojis, form);
    shadow.append(panel, launcher);
    document.body.append(host);

    input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        submit();
      }
    });
    input.addEventListener("input", () => {
      const now = Date.now();
      if (now - lastTypingSent > 2000 && input.value) {
        lastTypingSent = now;
        sendFrame({ type: "typing" });
      }
    });
    panel.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape") api.close();
    });
    file.addEventListener("change", async () => {
      const f = file.files && file.files[0];
      file.value = "";
      if (!f) return;
      showError("");
      if (site.max_file_bytes && f.size > site.max_file_bytes) {
        showError("The file is over the limit of " + Math.floor(site.max_file_bytes / 1024) + " KB.");
        return;
      }
      const fd = new FormData();
      fd.append("file", f, f.name);
      try {
        const res = await fetch(base + "/chat/files?session=" + encodeURIComponent(session), { method: "POST", body: fd });
        const data = await res.json().catch(() => ({}));
        if (!res.ok) throw new Error((data.error && data.error.message) || res.statusText);
        await send(f.name, [data.url]);
      } catch (e) {
        showError("The file was not sent: " + e.message);
      }
    });
    function submit() {
      const t = input.value;
      if (!t.trim()) return;
      input.value = "";
      send(t).catch((e) => showError("Not sent: " + e.message));
    }
    function showError(t) {
      error.textContent = t;
    }
    ui = { host, panel, launcher, title, status, log, typing, input, error };
    render();
  }

  function render() {
    if (!ui) return;
    ui.panel.hidden = !isOpen;
    ui.launcher.setAttribute("aria-expanded", String(isOpen));
    ui.launcher.setAttribute("aria-label", isOpen ? "Close chat" : "Open chat");
    ui.title.textContent = site.name;
    ui.status.textContent = conv.agent
      ? "Chatting with " + conv.agent.name
      : site.open ? "We usually answer in a few minutes" : "We are offline";
    const items = [];
    if (site.greeting) items.push(row("system greeting", null, site.greeting));
    if (!site.open && bySeq.size === 0 && site.offline_message) items.push(row("system", null, site.offline_message));
    for (const m of messages()) items.push(messageRow(m));
    for (const m of outbox.pending()) items.push(messageRow(Object.assign({ direction: "in", status: m.failed ? "failed" : "sending" }, m)));
    const atBottom = ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 40;
    ui.log.replaceChildren(...items);
    if (atBottom || isOpen) ui.log.scrollTop = ui.log.scrollHeight;
    ui.typing.textContent = Date.now() < typingUntil ? (typingName || "The agent") + " is typing…" : "";
  }

  function row(cls, who, text, extra) {
    return el("li", { class: cls }, who ? el("span", { class: "who" }, who) : null, el("p", { class: "body" }, text), extra || null);
  }

  function messageRow(m) {
    const links = (m.attachments || []).map((u) => el("a", { href: u, target: "_blank", rel: "noopener noreferrer", class: "file" }, "📎 " + (m.body || "file")));
    const body = links.length ? null : m.body;
    if (m.direction === "system") return row("system", null, m.body);
    if (m.direction === "out") return row("agent", (m.agent && m.agent.name) || "Agent", body, links.length ? el("span", {}, ...links) : null);
    let tick = "";
    let label = "";
    if (m.status === "sending") (tick = "…"), (label = "Sending");
    else if (m.status === "failed") (tick = "!"), (label = "Not sent");
    else if (conv.read_seq >= m.seq) (tick = "✓✓"), (label = "Read");
    else (tick = "✓"), (label = "Delivered");
    const r = row("me", null, body, links.length ? el("span", {}, ...links) : null);
    r.append(el("span", { class: "tick " + label.toLowerCase().replace(" ", "-"), "aria-label": label, title: label }, tick));
    return r;
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
