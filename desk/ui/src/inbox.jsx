// The omnichannel inbox (seeds: whatsapp-agent-desktop.txt, web-chat.txt):
// the waiting counts of the agent's queues, its open interactions with
// unread badges, and the conversation with reply, notes, tags, transfer,
// templates outside a WhatsApp window, and close with a disposition.
import { useEffect, useRef, useState } from "preact/hooks";
import { fetchBlob, get, post, put } from "./api.js";
import { clock, customerLabel, uid } from "./util.js";
import { ChannelIcon } from "./icons.jsx";
import { ContactCard } from "./contacts.jsx";


export function Dashboard({ dash }) {
  return (
    <section class="panel dashboard" id="dashboard" aria-label="Dashboard">
      <h2>Waiting</h2>
      {!dash && <p class="muted">…</p>}
      {dash && !dash.queues.length && <p class="muted">No digital queues assigned.</p>}
      <ul>
        {dash?.queues.map((q) => (
          <li key={q.queue_id} data-queue={q.name}>
            <span><ChannelIcon channel={q.channel} /> {q.name}</span>
            <span class={`count ${q.waiting ? "hot" : ""}`} data-waiting={q.waiting}>{q.waiting}</span>
          </li>
        ))}
      </ul>
      {dash && <p class="muted small">Open {dash.open} · unread {dash.unread}</p>}
    </section>
  );
}

export function Inbox({ me, interactions, selected, select, stream, dash, notify, dispositions, queues, onRead }) {
  const list = Object.values(interactions)
    .filter((i) => i.status === "accepted" && i.agent_id === me.id)
    .sort((a, b) => Date.parse(b.updated_at) - Date.parse(a.updated_at));
  const current = selected ? interactions[selected] : null;
  return (
    <div class="inbox">
      <aside class="inbox-side">
        <Dashboard dash={dash} />
        <section class="panel" aria-label="Open interactions">
          <h2>Open</h2>
          {!list.length && <p class="muted">No open interactions. Offers appear at the top right.</p>}
          <ul id="interaction-list" class="ilist">
            {list.map((i) => (
              <li
                key={i.id}
                data-id={i.id}
                class={i.id === selected ? "sel" : ""}
                onClick={() => select(i.id)}
                tabIndex={0}
                onKeyDown={(e) => e.key === "Enter" && select(i.id)}
              >
                <ChannelIcon channel={i.channel} />
                <span class="who">{customerLabel(i, me.mask_sensitive_data)}</span>
                {i.unread > 0 && i.id !== selected && <span class="badge" data-unread={i.unread}>{i.unread}</span>}
              </li>
            ))}
          </ul>
        </section>
      </aside>
      {current ? (
        <Conversation
          key={current.id}
          it={current}
          onRead={onRead}
          me={me}
          stream={stream}
          notify={notify}
          dispositions={dispositions}
          queues={queues}
          onClosed={() => select(null)}
        />
      ) : null}
      {current?.contact_id ? <ContactCard key={current.contact_id} id={current.contact_id} notify={notify} compact /> : null}
      {current ? null : (
        <section class="panel empty" id="conversation-empty">
          <p>Choose an interaction on the left, or accept an offer.</p>
        </section>
      )}
    </div>
  );
}

// openAttachment opens media omniccd serves behind the bearer token (a
// plain link would carry none) as a blob; other links open as they are.
async function openAttachment(e, url, notify) {
  if (!url.startsWith("/api/v1/")) return;
  e.preventDefault();
  const win = window.open("", "_blank");
  try {
    const blob = await fetchBlob(url.slice("/api/v1".length));
    const obj = URL.createObjectURL(blob);
    if (win) win.location = obj;
    setTimeout(() => URL.revokeObjectURL(obj), 60000);
  } catch (err) {
    win?.close();
    notify(`Attachment: ${err.message}`, "error");
  }
}

function Ticks({ m }) {
  if (m.direction !== "out") return null;
  const t = { pending: "…", sent: "✓", delivered: "✓✓", read: "✓✓", failed: "!" }[m.status] || "";
  return (
    <span class={`ticks ${m.status}`} title={m.error || m.status}>
      {t}
    </span>
  );
}

function Conversation({ it, me, stream, notify, dispositions, queues, onClosed, onRead }) {
  const [msgs, setMsgs] = useState([]);
  const [notes, setNotes] = useState([]);
  const [text, setText] = useState("");
  const [note, setNote] = useState("");
  const [tab, setTab] = useState("reply");
  const [disposition, setDisposition] = useState("");
  const [transferTo, setTransferTo] = useState("");
  const [tags, setTags] = useState((it.tags || []).join(", "));
  const [windowOpen, setWindowOpen] = useState(true);
  const [templates, setTemplates] = useState([]);
  const [agents, setAgents] = useState([]);
  const end = useRef(null);
  // Web chat shows typing both ways: the visitor's for a few seconds after
  // each signal, the agent's sent at most every 3 s while it types.
  const [visitorTyping, setVisitorTyping] = useState(false);
  const typingTimer = useRef(null);
  const typingSent = useRef(0);

  useEffect(() => {
    let live = true;
    get(`/interactions/${it.id}/messages`).then((m) => live && setMsgs(m || [])).catch((e) => notify(e.message, "error"));
    get(`/interactions/${it.id}/notes`).then((n) => live && setNotes(n?.items || n || [])).catch(() => {});
    post(`/interactions/${it.id}/read`).then(onRead, () => {});
    if (it.channel === "whatsapp") {
      // The interaction carries its window when the router knows it;
      // otherwise the conversation endpoint answers.
      if (!it.window_expires_at) {
        get(`/whatsapp-accounts/${encodeURIComponent(it.account)}/conversations/${encodeURIComponent(it.customer)}`)
          .then((w) => live && setWindowOpen(!!w.window_open))
          .catch(() => {});
      }
      get(`/whatsapp-templates`).then((t) => live && setTemplates(t?.items || [])).catch(() => {});
    }
    get(`/agents/online`).then((a) => live && setAgents((a?.items || []).filter((x) => x.agent_id !== me.id))).catch(() => {});
    const off = stream.on((ev) => {
      if (ev.type === "typing" && ev.interaction_id === it.id && ev.from === "visitor") {
        setVisitorTyping(true);
        clearTimeout(typingTimer.current);
        typingTimer.current = setTimeout(() => setVisitorTyping(false), 5000);
      }
      if (ev.type === "message" && ev.interaction_id === it.id && ev.message?.direction === "in") setVisitorTyping(false);
      if (ev.type === "message" && ev.interaction_id === it.id) {
        setMsgs((cur) => (cur.some((m) => m.id === ev.message.id) ? cur.map((m) => (m.id === ev.message.id ? ev.message : m)) : [...cur, ev.message].sort((a, b) => a.seq - b.seq)));
        post(`/interactions/${it.id}/read`).catch(() => {});
      }
    });
    return () => {
      live = false;
      off();
      clearTimeout(typingTimer.current);
      setVisitorTyping(false);
    };
  }, [it.id]);

  const typed = (value) => {
    setText(value);
    if (it.channel !== "chat" || !value.trim() || Date.now() - typingSent.current < 3000) return;
    typingSent.current = Date.now();
    post(`/interactions/${it.id}/typing`).catch(() => {});
  };

  useEffect(() => {
    end.current?.scrollIntoView({ block: "end" });
  }, [msgs.length]);

  // A known window closes by itself at its time, while the page is open.
  useEffect(() => {
    if (!it.window_expires_at) return;
    const left = Date.parse(it.window_expires_at) - Date.now();
    setWindowOpen(left > 0);
    if (left <= 0) return;
    const t = setTimeout(() => setWindowOpen(false), Math.min(left, 2 ** 31 - 1));
    return () => clearTimeout(t);
  }, [it.window_expires_at]);

  const send = async () => {
    const body = text.trim();
    if (!body) return;
    setText("");
    try {
      const m = await post(`/interactions/${it.id}/messages`, { body, client_id: uid() });
      setMsgs((cur) => (cur.some((x) => x.id === m.id) ? cur : [...cur, m].sort((a, b) => a.seq - b.seq)));
    } catch (e) {
      setText(body);
      if (e.code === "window_closed") setWindowOpen(false);
      notify(`Reply not sent: ${e.message}`, "error");
    }
  };
  const addNote = async () => {
    const body = note.trim();
    if (!body) return;
    try {
      const n = await post(`/interactions/${it.id}/notes`, { body });
      setNotes((cur) => [...cur, n]);
      setNote("");
    } catch (e) {
      notify(`Note: ${e.message}`, "error");
    }
  };
  const saveTags = async () => {
    const list = tags.split(",").map((t) => t.trim()).filter(Boolean);
    try {
      await put(`/interactions/${it.id}/tags`, { tags: list });
      notify("Tags saved");
    } catch (e) {
      notify(`Tags: ${e.message}`, "error");
    }
  };
  const close = async () => {
    try {
      await post(`/interactions/${it.id}/close`, disposition ? { disposition } : {});
      notify("Interaction closed");
      onClosed();
    } catch (e) {
      notify(`Close: ${e.message}`, "error");
    }
  };
  const transfer = async () => {
    if (!transferTo) return;
    const [kind, id] = transferTo.split(":");
    try {
      await post(`/interactions/${it.id}/transfer`, kind === "q" ? { queue_id: Number(id) } : { agent_id: Number(id) });
      notify("Transfer offered: the interaction stays yours until it is accepted");
    } catch (e) {
      notify(`Transfer: ${e.message}`, "error");
    }
  };
  const sendTemplate = async (tid) => {
    try {
      try {
        await post(`/interactions/${it.id}/template`, { template_id: Number(tid), parameters: [] });
      } catch (e) {
        // An omniccd whose router does not map interactions to WhatsApp
        // conversations yet has no such route: send to the customer's
        // number instead (templates available for agents only).
        if (e.status !== 404 || e.code !== "not_found") throw e;
        await post(`/whatsapp-templates/${tid}/send`, { to: it.customer, parameters: [] });
      }
      notify("Template sent");
    } catch (e) {
      notify(`Template: ${e.message}`, "error");
    }
  };

  const reopen = async () => {
    try {
      await post(`/interactions/${it.id}/reopen`);
    } catch (e) {
      notify(`Reopen: ${e.message}`, "error");
    }
  };

  const usable = templates.filter((t) => (t.agents_can_send || t.recontact) && String(t.account_id) === String(it.account));
  const closed = it.status === "closed";

  return (
    <section class="panel conversation" id="conversation" data-id={it.id} aria-label="Conversation">
      <header class="conv-head">
        <div>
          <strong>{customerLabel(it, me.mask_sensitive_data)}</strong>
          <span class="muted"> · {it.channel} · #{it.id}</span>
          {it.channel === "whatsapp" && (
            <span class={`window ${windowOpen ? "open" : "closed"}`}>{windowOpen ? "24h window open" : "24h window closed: templates only"}</span>
          )}
        </div>
        {closed ? (
          <div class="conv-actions">
            <span class="pill" id="conv-closed">Closed{it.disposition ? `: ${it.disposition}` : ""}</span>
            <button id="btn-reopen" onClick={reopen}>Reopen</button>
          </div>
        ) : (
        <div class="conv-actions">
          <select id="close-disposition" value={disposition} onChange={(e) => setDisposition(e.currentTarget.value)} aria-label="Disposition">
            <option value="">No disposition</option>
            {dispositions.map((d) => (
              <option key={d.id} value={d.name}>{d.name}</option>
            ))}
          </select>
          <button id="btn-close" class="bad" onClick={close}>Close</button>
        </div>
        )}
      </header>
      <ol class="messages" id="messages">
        {msgs.map((m) => (
          <li key={m.id} class={`msg ${m.direction} ${m.agent_id == null && m.direction === "out" ? "bot" : ""}`} data-seq={m.seq}>
            <div class="bubble">
              {m.body}
              {(m.attachments || []).map((a) => (
                <a class="attach" href={a} target="_blank" rel="noopener noreferrer" key={a} onClick={(e) => openAttachment(e, a, notify)}>
                  Attachment: {a.split("/").pop()}
                </a>
              ))}
            </div>
            <div class="meta">
              {clock(m.created_at)} <Ticks m={m} />
            </div>
          </li>
        ))}
        <li ref={end} aria-hidden="true" />
      </ol>
      {visitorTyping && (
        <p id="typing" class="muted" aria-live="polite">
          {it.customer_name || "The customer"} is typing…
        </p>
      )}
      <nav class="tabs" role="tablist">
        {["reply", "notes", "tags", "transfer"].map((t) => (
          <button key={t} role="tab" aria-selected={tab === t} class={tab === t ? "on" : ""} data-tab={t} onClick={() => setTab(t)}>
            {t[0].toUpperCase() + t.slice(1)}
            {t === "notes" && notes.length ? ` (${notes.length})` : ""}
          </button>
        ))}
      </nav>
      {tab === "reply" && !closed &&
        (windowOpen ? (
          <div class="composer">
            <textarea
              id="reply-text"
              rows={2}
              placeholder="Write a reply — Enter sends, Shift+Enter for a new line"
              value={text}
              onInput={(e) => typed(e.currentTarget.value)}
              onKeyDown={(e) => {
                if (e.key === "Enter" && !e.shiftKey) {
                  e.preventDefault();
                  send();
                }
              }}
            />
            <button id="reply-send" class="good" onClick={send} disabled={!text.trim()}>Send</button>
          </div>
        ) : (
          <div class="composer templates">
            {!usable.length && <p class="muted">No template is available to agents.</p>}
            {usable.map((t) => (
              <button key={t.id} data-template={t.name} onClick={() => sendTemplate(t.id)}>Send template “{t.name}” ({t.language})</button>
            ))}
          </div>
        ))}
      {tab === "notes" && (
        <div class="notes">
          <ul>
            {notes.map((n) => (
              <li key={n.id}><span class="muted">{clock(n.created_at)}</span> {n.body}</li>
            ))}
          </ul>
          <div class="composer">
            <input id="note-text" placeholder="Internal note (the customer never sees it)" value={note} onInput={(e) => setNote(e.currentTarget.value)} onKeyDown={(e) => e.key === "Enter" && addNote()} />
            <button id="note-add" onClick={addNote}>Add note</button>
          </div>
        </div>
      )}
      {tab === "tags" && (
        <div class="composer">
          <input id="tags-text" placeholder="tags, comma separated" value={tags} onInput={(e) => setTags(e.currentTarget.value)} />
          <button id="tags-save" onClick={saveTags}>Save tags</button>
        </div>
      )}
      {tab === "transfer" && (
        <div class="composer">
          <select id="transfer-target" value={transferTo} onChange={(e) => setTransferTo(e.currentTarget.value)}>
            <option value="">Transfer to…</option>
            <optgroup label="Online agents">
              {agents.map((a) => (
                <option key={a.agent_id} value={`a:${a.agent_id}`}>{a.full_name || a.username} ({a.state})</option>
              ))}
            </optgroup>
            <optgroup label="Queues">
              {queues.filter((q) => q.channel === it.channel).map((q) => (
                <option key={q.id} value={`q:${q.id}`}>{q.name}</option>
              ))}
            </optgroup>
          </select>
          <button id="transfer-send" onClick={transfer} disabled={!transferTo}>Transfer</button>
        </div>
      )}
    </section>
  );
}

// Offers pop up over every view: countdown, accept, reject.
export function Offers({ offers, accept, reject, now, masked }) {
  if (!offers.length) return null;
  return (
    <div class="offers" aria-live="assertive">
      {offers.map((o, n) => {
        const left = Math.max(0, Math.round((Date.parse(o.expires_at) - now) / 1000));
        return (
          <div class="offer" key={o.interaction.id} data-id={o.interaction.id} role="alertdialog" aria-label="New interaction">
            <div>
              <ChannelIcon channel={o.interaction.channel} /> <strong>{customerLabel(o.interaction, masked)}</strong>
              <span class="muted"> {o.interaction.channel}{o.transfer ? " · transfer" : ""}</span>
            </div>
            <div class="countdown" data-left={left}>{o.expires_at ? `${left}s` : ""}</div>
            <div class="row">
              <button class="good accept" onClick={() => accept(o.interaction.id)} title={n === 0 ? "Accept (Alt+A)" : "Accept"}>Accept</button>
              <button class="bad reject" onClick={() => reject(o.interaction.id)}>Reject</button>
            </div>
          </div>
        );
      })}
    </div>
  );
}
