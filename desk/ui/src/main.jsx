// omnicc agent desktop: login, the agent bar, the inbox, contacts and the
// supervisor wall, on the public REST API and the /api/v1/ws websocket.
import { render } from "preact";
import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";
import { ApiError, get, getSession, post, setSession, whenUnauthorized } from "./api.js";
import { EventStream } from "./events.js";
import { Bar } from "./bar.jsx";
import { Inbox, Offers } from "./inbox.jsx";
import { Contacts } from "./contacts.jsx";
import { Wall, useWaiting } from "./wall.jsx";
import { Settings, savedAudio } from "./settings.jsx";
import { beep, customerLabel, useNow } from "./util.js";
import "./style.css";

function loginMessage(e) {
  switch (e.code) {
    case "account_locked":
      return "This account is locked after too many failed logins. Ask an administrator to unlock it.";
    case "account_disabled":
      return "This account is disabled. Ask an administrator to enable it.";
    case "unauthenticated":
    case "invalid_credentials":
      return "Wrong username or password.";
    default:
      return e.message || "Login failed.";
  }
}

function Login({ onLogin }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      const s = await post("/auth/login", { username, password });
      setSession({ token: s.token, user_id: s.user_id, username: s.username, role: s.role });
      if (typeof Notification !== "undefined" && Notification.permission === "default") Promise.resolve(Notification.requestPermission()).catch(() => {});
      onLogin();
    } catch (err) {
      setError(loginMessage(err));
      setPassword("");
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <form class="panel login-box" onSubmit={submit} aria-label="Sign in">
        <h1>omnicc</h1>
        <p class="muted">Agent desktop</p>
        <label>
          Username
          <input id="login-username" autocomplete="username" value={username} onInput={(e) => setUsername(e.currentTarget.value)} autofocus required />
        </label>
        <label>
          Password
          <input id="login-password" type="password" autocomplete="current-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} required />
        </label>
        {error && <p class="login-error" id="login-error" role="alert">{error}</p>}
        <button id="login-submit" class="good" type="submit" disabled={busy}>{busy ? "Signing in…" : "Sign in"}</button>
      </form>
    </main>
  );
}

// notifyDesktop shows a system notification while the tab is hidden, once
// the agent allowed them (asked at sign-in, a user gesture).
function notifyDesktop(title, body) {
  if (!document.hidden || typeof Notification === "undefined" || Notification.permission !== "granted") return;
  try {
    const n = new Notification(title, { body, tag: "omnicc-desk" });
    n.onclick = () => {
      window.focus();
      n.close();
    };
  } catch {}
}

function useHashRoute(def) {
  const read = () => location.hash.replace(/^#\/?/, "") || def;
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const f = () => setRoute(read());
    addEventListener("hashchange", f);
    return () => removeEventListener("hashchange", f);
  }, [def]);
  return route;
}

// One empty list, so an agent's page does not re-run the wall's effects
// on every render.
const NO_QUEUES = [];

function Desk({ onLogout }) {
  const session = getSession();
  const staff = session.role === "admin" || session.role === "supervisor";
  const isAgent = session.role === "agent";
  const stream = useMemo(() => new EventStream(), []);
  const [wsUp, setWsUp] = useState(true);
  const [me, setMe] = useState(null);
  const [config, setConfig] = useState(null);
  const [states, setStates] = useState({});
  const [offers, setOffers] = useState([]);
  const [interactions, setInteractions] = useState({});
  const [selected, setSelected] = useState(null);
  const [dash, setDash] = useState(null);
  const [pauseTypes, setPauseTypes] = useState([]);
  const [dispositions, setDispositions] = useState([]);
  const [queues, setQueues] = useState([]);
  const [myChannels, setMyChannels] = useState([]);
  const [recordings, setRecordings] = useState({});
  const upsertRecording = useCallback((r) => setRecordings((m) => ({ ...m, [r.id]: r })), []);
  const [toasts, setToasts] = useState([]);
  const [phoneState, setPhoneState] = useState(null);
  const [settings, setSettings] = useState(false);
  const phoneRef = useRef(null);
  const selectedRef = useRef(null);
  selectedRef.current = selected;
  const route = useHashRoute(isAgent ? "inbox" : "wall");
  const now = useNow(stream.clockSkew);

  const notify = useCallback((text, kind = "info") => {
    const id = Math.random();
    setToasts((t) => [...t.slice(-3), { id, text, kind }]);
    setTimeout(() => setToasts((t) => t.filter((x) => x.id !== id)), kind === "error" ? 8000 : 4000);
  }, []);

  const loadDash = useCallback(() => {
    if (isAgent) get(`/agents/${session.user_id}/dashboard`).then(setDash).catch(() => {});
  }, []);

  // Start: who am I, the installation's settings, the lists the bar and
  // the inbox choose from, then the live events.
  useEffect(() => {
    let dashTimer = null;
    const off = stream.on((ev) => {
      switch (ev.type) {
        case "agent_state":
          setStates((s) => ({ ...s, [ev.agent_id]: ev }));
          if (ev.agent_id === session.user_id) {
            // A login or a pause changes which queues count as the agent's.
            clearTimeout(dashTimer);
            dashTimer = setTimeout(loadDash, 250);
          }
          break;
        case "offer":
          // Supervisors watching everything see every agent's offers go by;
          // only an agent's own are for taking.
          if (!isAgent) break;
          setOffers((o) => (o.some((x) => x.interaction.id === ev.interaction.id) ? o : [...o, ev]));
          if (phoneRef.current?.ringtone !== false) beep(2);
          notifyDesktop("New " + ev.interaction.channel, customerLabel(ev.interaction, true));
          break;
        case "recording":
          upsertRecording(ev);
          break;
        case "offer_withdrawn":
          setOffers((o) => o.filter((x) => x.interaction.id !== ev.interaction_id));
          break;
        case "interaction": {
          const it = ev.interaction;
          setInteractions((m) => ({ ...m, [it.id]: it }));
          // Auto-answer (the router's): an interaction that becomes ours
          // opens by itself when the agent is not in another one.
          if (it.status === "accepted" && it.agent_id === session.user_id && !selectedRef.current) setSelected(it.id);
          if (it.status !== "offered") setOffers((o) => o.filter((x) => x.interaction.id !== it.id || x.transfer));
          clearTimeout(dashTimer);
          dashTimer = setTimeout(loadDash, 250);
          break;
        }
        case "message":
          if (ev.interaction_id !== selectedRef.current && ev.message?.direction === "in") {
            setInteractions((m) => {
              const it = m[ev.interaction_id];
              return it ? { ...m, [it.id]: { ...it, unread: (it.unread || 0) + 1, updated_at: ev.message.created_at } } : m;
            });
          }
          break;
      }
    });
    const offStatus = stream.onStatus((up) => {
      setWsUp(up);
      // A revoked or expired token closes the websocket too: asking who we
      // are sends the page back to sign-in when that is why.
      if (!up) get("/auth/me").catch(() => {});
      // After a reconnect the REST API is the truth again: re-read what
      // the events may have missed.
      if (up && isAgent) {
        get(`/interactions?status=accepted&agent_id=${session.user_id}&per_page=100`)
          .then((l) => setInteractions((m) => {
            const out = { ...m };
            for (const it of l.items) out[it.id] = it;
            return out;
          }))
          .catch(() => {});
        // Offers standing now, whose events went by while the page was
        // away (a reload during an offer, a websocket that was down).
        get("/offers")
          .then((l) => setOffers((o) => [...o, ...(l.items || []).filter((x) => !o.some((y) => y.interaction.id === x.interaction.id))]))
          .catch(() => {});
        loadDash();
      }
    });
    (async () => {
      try {
        await get("/auth/me");
        const [cfg, pt, disp, qs] = await Promise.all([
          get("/desk/config"),
          get("/pause-types").catch(() => ({ items: [] })),
          get("/dispositions").catch(() => ({ items: [] })),
          get("/queues?per_page=100").catch(() => ({ items: [] })),
        ]);
        setConfig(cfg);
        setPauseTypes(pt?.items || []);
        setDispositions(disp?.items || []);
        setQueues(qs?.items || []);
        if (isAgent) {
          const mine = await get(`/agents/${session.user_id}/queues`).catch(() => ({ items: [] }));
          setMyChannels([...new Set((mine?.items || []).map((m) => m.channel))].sort((a, b) => (a === "voice" ? -1 : b === "voice" ? 1 : a.localeCompare(b))));
          setMe(await get(`/agents/${session.user_id}`));
        }
        if (staff) {
          const st = await get("/agents/states").catch(() => ({ items: [] }));
          setStates(Object.fromEntries((st.items || st || []).map((s) => [s.agent_id, s])));
        }
      } catch (e) {
        if (!(e instanceof ApiError && e.status === 401)) notify(e.message, "error");
      }
      stream.start();
    })();
    return () => {
      off();
      offStatus();
      stream.stop();
      clearTimeout(dashTimer);
    };
  }, []);

  // The softphone: webrtc agents only, once the agent and the SIP URL are known.
  useEffect(() => {
    if (!me || me.typology !== "webrtc" || !config?.sip_ws_url) return;
    let phone = null;
    let cancelled = false;
    // JsSIP is most of the bundle: only webrtc agents load it.
    Promise.all([get(`/agents/${me.id}/sip-secret`), import("./phone.js")])
      .then(([{ sip_secret }, { Phone }]) => {
        if (cancelled) return;
        phone = new Phone({ url: config.sip_ws_url, username: me.username, secret: sip_secret, onChange: setPhoneState });
        phoneRef.current = phone;
        phone.setDevices(savedAudio());
        phone.start();
      })
      .catch((e) => notify(`Softphone: ${e.message}`, "error"));
    return () => {
      cancelled = true;
      phone?.stop();
      phoneRef.current = null;
    };
  }, [me, config]);

  // Do not disturb during pause, when the agent's WebRTC settings say so.
  const pausedNow = (states[session.user_id]?.paused_channels || []).includes("voice");
  useEffect(() => {
    if (phoneRef.current) phoneRef.current.dnd = !!(me?.webrtc?.dnd_on_pause && pausedNow);
  }, [pausedNow, me, phoneState?.registered]);

  // Ring while a call rings in the page; answer by itself when the agent's
  // WebRTC settings say so.
  const ringing = phoneState?.call?.state === "ringing" && phoneState.call.direction === "inbound";
  useEffect(() => {
    if (!ringing) return;
    notifyDesktop("Incoming call", phoneState.call.name || phoneState.call.peer);
    if (phoneRef.current?.ringtone !== false) beep(1);
    const t = setInterval(() => phoneRef.current?.ringtone !== false && beep(1), 2000);
    let auto = null;
    if (me?.webrtc?.auto_answer) auto = setTimeout(() => phoneRef.current?.answer(), (me.webrtc.auto_answer_delay || 0) * 1000);
    return () => {
      clearInterval(t);
      clearTimeout(auto);
    };
  }, [ringing]);

  // An offer whose withdrawal was missed (the websocket was down) goes
  // a few seconds after its deadline.
  useEffect(() => {
    if (offers.some((o) => o.expires_at && Date.parse(o.expires_at) < now - 3000)) {
      setOffers((o) => o.filter((x) => !x.expires_at || Date.parse(x.expires_at) >= now - 3000));
    }
  }, [now]);

  const accept = async (id) => {
    try {
      const it = await post(`/interactions/${id}/accept`);
      setOffers((o) => o.filter((x) => x.interaction.id !== id));
      if (it?.id) setInteractions((m) => ({ ...m, [it.id]: it }));
      setSelected(id);
      location.hash = "#/inbox";
    } catch (e) {
      setOffers((o) => o.filter((x) => x.interaction.id !== id));
      notify(e.code === "offer_gone" ? "Too late: another agent took it, or the offer expired." : `Accept: ${e.message}`, "error");
    }
  };
  const reject = async (id) => {
    setOffers((o) => o.filter((x) => x.interaction.id !== id));
    try {
      await post(`/interactions/${id}/reject`);
    } catch {}
  };
  const select = (id) => {
    setSelected(id);
    if (id) setInteractions((m) => (m[id] ? { ...m, [id]: { ...m[id], unread: 0 } } : m));
  };

  // Keyboard: Alt+A accepts the first offer or answers the ringing call,
  // Alt+R rejects the first offer, Alt+H hangs up.
  // The handler reads the offers through a ref: an offer is acceptable the
  // moment it is on screen, not only after an effect re-binds a handler.
  const offersRef = useRef(offers);
  offersRef.current = offers;
  useEffect(() => {
    const onKey = (e) => {
      if (!e.altKey) return;
      const k = e.key.toLowerCase();
      const first = offersRef.current[0];
      if (k === "a") {
        if (first) accept(first.interaction.id);
        else phoneRef.current?.answer();
      } else if (k === "r" && first) reject(first.interaction.id);
      else if (k === "h") document.getElementById("btn-hangup")?.click();
      else return;
      e.preventDefault();
    };
    addEventListener("keydown", onKey);
    return () => removeEventListener("keydown", onKey);
  }, []);

  const logout = async () => {
    try {
      await post("/auth/logout");
    } catch {}
    onLogout();
  };

  const waiting = useWaiting(stream, staff ? queues : NO_QUEUES);
  const myState = isAgent ? states[session.user_id] : null;
  const unread = Object.values(interactions).filter((i) => i.status === "accepted" && i.agent_id === session.user_id).reduce((n, i) => n + (i.unread || 0), 0);
  const nav = isAgent
    ? [["inbox", "Inbox", unread], ["contacts", "Contacts"]]
    : [["wall", "Wall"], ["contacts", "Contacts"]];
  const phoneDown = me?.typology === "webrtc" && phoneState && !phoneState.registered;

  return (
    <div class="desk">
      <header class="topbar">
        <span class="brand">omnicc</span>
        <nav aria-label="Sections">
          {nav.map(([r, label, n]) => (
            <a key={r} href={`#/${r}`} data-nav={r} class={route === r ? "on" : ""} aria-current={route === r ? "page" : undefined}>
              {label}
              {n ? <span class="badge" id="nav-unread">{n}</span> : null}
            </a>
          ))}
        </nav>
        <span class="user" id="whoami">
          {me?.full_name || session.username} · {session.role}
          {me ? ` · ext ${me.extension}` : ""}
        </span>
        {me && <button id="btn-settings" onClick={() => setSettings(true)} title="Settings">Settings</button>}
        <button id="btn-signout" onClick={logout}>Sign out</button>
      </header>
      {!wsUp && <div class="banner" id="banner-ws" role="status">Connection to omniccd lost — reconnecting…</div>}
      {me?.typology === "webrtc" && !window.isSecureContext && (
        <div class="banner" id="banner-insecure" role="status">
          This page is not served over HTTPS: the browser will not give the softphone a microphone. Open the desk through HTTPS (or on localhost).
        </div>
      )}
      {phoneDown && <div class="banner" id="banner-sip" role="status">Softphone not registered{phoneState.error ? ` (${phoneState.error})` : ""} — retrying…</div>}
      {isAgent && me && <Bar me={me} state={myState} channels={myChannels} recordings={recordings} onRecording={upsertRecording} pauseTypes={pauseTypes} phone={phoneRef.current} phoneState={phoneState} now={now} notify={notify} />}
      <main class="view">
        {route === "inbox" && isAgent && me && (
          <Inbox me={me} interactions={interactions} selected={selected} select={select} stream={stream} dash={dash} notify={notify} dispositions={dispositions} queues={queues} onRead={loadDash} />
        )}
        {route === "contacts" && <Contacts notify={notify} />}
        {route === "wall" && staff && <Wall states={states} now={now} notify={notify} waiting={waiting} queueList={queues} />}
      </main>
      {settings && me && <Settings me={me} phone={phoneRef.current} phoneState={phoneState} wsUp={wsUp} onClose={() => setSettings(false)} />}
      <Offers offers={offers} accept={accept} reject={reject} now={now} masked={!!me?.mask_sensitive_data} />
      <div class="toasts" aria-live="polite">
        {toasts.map((t) => (
          <div key={t.id} class={`toast ${t.kind}`}>{t.text}</div>
        ))}
      </div>
    </div>
  );
}

function App() {
  const [signedIn, setSignedIn] = useState(!!getSession());
  useEffect(() => whenUnauthorized(() => { setSession(null); setSignedIn(false); }), []);
  if (!signedIn) return <Login onLogin={() => setSignedIn(true)} />;
  return <Desk onLogout={() => { setSession(null); setSignedIn(false); }} />;
}

render(<App />, document.getElementById("app"));
