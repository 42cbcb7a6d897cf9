// Contacts (seeds: whatsapp-agent-desktop.txt): search within the lists the
// agent may see, the contact card with its customer journey, and editing
// within the agent's grants. Masking is the server's: a masked agent gets
// masked values and the page shows what it gets.
import { useEffect, useState } from "preact/hooks";
import { get, patch, post } from "./api.js";
import { clock, fullName } from "./util.js";
import { ChannelIcon } from "./icons.jsx";

export function Contacts({ notify }) {
  const [q, setQ] = useState("");
  const [lists, setLists] = useState([]);
  const [listID, setListID] = useState("");
  const [mine, setMine] = useState(false);
  const [tag, setTag] = useState("");
  const [result, setResult] = useState(null);
  const [open, setOpen] = useState(null);
  const [adding, setAdding] = useState(false);

  useEffect(() => {
    get("/contact-lists").then((l) => setLists(l?.items || [])).catch(() => {});
    search();
  }, []);

  async function search(e) {
    e?.preventDefault();
    const p = new URLSearchParams();
    if (q.trim()) p.set("q", q.trim());
    if (listID) p.set("list_id", listID);
    if (mine) p.set("mine", "true");
    if (tag.trim()) p.set("tag", tag.trim());
    p.set("per_page", "50");
    try {
      setResult(await get(`/contacts?${p}`));
    } catch (err) {
      notify(`Contacts: ${err.message}`, "error");
    }
  }

  return (
    <div class="contacts">
      <section class="panel contact-search" aria-label="Contacts">
        <form class="row" onSubmit={search}>
          <input id="contact-q" type="search" placeholder="Name, phone, email…" value={q} onInput={(e) => setQ(e.currentTarget.value)} />
          <select value={listID} onChange={(e) => setListID(e.currentTarget.value)} aria-label="List">
            <option value="">All my lists</option>
            {lists.map((l) => (
              <option key={l.id} value={l.id}>{l.name}</option>
            ))}
          </select>
          <input class="tag-filter" placeholder="tag" value={tag} onInput={(e) => setTag(e.currentTarget.value)} aria-label="Tag" />
          <label class="check"><input type="checkbox" id="contact-mine" checked={mine} onChange={(e) => setMine(e.currentTarget.checked)} /> My contacts</label>
          <button id="contact-search" type="submit">Search</button>
        </form>
        <div class="row">
          {result && <p class="muted small grow">{result.total} contact{result.total === 1 ? "" : "s"}</p>}
          {lists.length > 0 && <button id="contact-add" onClick={() => setAdding(true)}>+ Add</button>}
        </div>
        {adding && (
          <NewContact
            lists={lists}
            notify={notify}
            onDone={(c) => {
              setAdding(false);
              if (c) {
                setOpen(c.id);
                search();
              }
            }}
          />
        )}
        <ul class="clist" id="contact-results">
          {result?.items.map((c) => (
            <li key={c.id} class={`contact-row ${open === c.id ? "sel" : ""}`} data-id={c.id} tabIndex={0} onClick={() => setOpen(c.id)} onKeyDown={(e) => e.key === "Enter" && setOpen(c.id)}>
              <strong>{fullName(c)}</strong>
              <span class="muted">{c.mobile || c.phone || (c.emails || [])[0] || ""}</span>
              <span class="tags">{(c.tags || []).map((t) => <span class="tag" key={t}>{t}</span>)}</span>
            </li>
          ))}
        </ul>
      </section>
      {open ? <ContactCard key={open} id={open} notify={notify} /> : <section class="panel empty"><p>Choose a contact to see its card and journey.</p></section>}
    </div>
  );
}

// NewContact adds a contact to one of the lists the agent may use; the
// server says which it may not.
function NewContact({ lists, notify, onDone }) {
  const [f, setF] = useState({ list_id: String(lists[0]?.id || ""), first_name: "", last_name: "", phone: "", email: "" });
  const set = (k) => (e) => setF({ ...f, [k]: e.currentTarget.value });
  const save = async (e) => {
    e.preventDefault();
    const body = { list_id: Number(f.list_id), first_name: f.first_name, last_name: f.last_name, phone: f.phone };
    if (f.email.trim()) body.emails = [f.email.trim()];
    try {
      const c = await post("/contacts", body);
      notify("Contact added");
      onDone(c);
    } catch (err) {
      notify(`Not added: ${err.message}`, "error");
    }
  };
  return (
    <form class="form new-contact" id="contact-new" onSubmit={save}>
      <label>
        List
        <select value={f.list_id} onChange={set("list_id")}>
          {lists.map((l) => (
            <option key={l.id} value={l.id}>{l.name}</option>
          ))}
        </select>
      </label>
      <label>First name<input name="first_name" value={f.first_name} onInput={set("first_name")} /></label>
      <label>Last name<input name="last_name" value={f.last_name} onInput={set("last_name")} /></label>
      <label>Phone<input name="phone" type="tel" value={f.phone} onInput={set("phone")} /></label>
      <label>Email<input name="email" type="email" value={f.email} onInput={set("email")} /></label>
      <div class="row">
        <button class="good" type="submit" id="contact-new-save">Add contact</button>
        <button type="button" onClick={() => onDone(null)}>Cancel</button>
      </div>
    </form>
  );
}

const EDITABLE = [
  ["first_name", "First name"],
  ["last_name", "Last name"],
  ["company", "Company"],
  ["phone", "Phone"],
  ["mobile", "Mobile"],
];

export function ContactCard({ id, notify }) {
  const [c, setC] = useState(null);
  const [journey, setJourney] = useState(null);
  const [edit, setEdit] = useState(null);

  useEffect(() => {
    get(`/contacts/${id}`).then(setC).catch((e) => notify(`Contact: ${e.message}`, "error"));
    get(`/contacts/${id}/journey`).then((j) => setJourney(j?.items || [])).catch(() => setJourney([]));
  }, [id]);

  const save = async () => {
    const body = {};
    for (const [k] of EDITABLE) if (edit[k] !== c[k]) body[k] = edit[k];
    const emails = edit.emails.split(",").map((s) => s.trim()).filter(Boolean);
    if (emails.join(",") !== (c.emails || []).join(",")) body.emails = emails;
    try {
      setC(await patch(`/contacts/${id}`, body));
      setEdit(null);
      notify("Contact saved");
    } catch (e) {
      notify(`Not saved: ${e.message}`, "error");
    }
  };

  if (!c) return <section class="panel" id="contact-card"><p class="muted">…</p></section>;
  return (
    <section class="panel contact-card" id="contact-card" data-id={c.id} aria-label="Contact card">
      <header class="conv-head">
        <h2>{fullName(c)}</h2>
        {!edit && <button id="contact-edit" onClick={() => setEdit({ ...c, emails: (c.emails || []).join(", ") })}>Edit</button>}
      </header>
      {edit ? (
        <div class="form">
          {EDITABLE.map(([k, label]) => (
            <label key={k}>
              {label}
              <input name={k} value={edit[k] || ""} onInput={(e) => setEdit({ ...edit, [k]: e.currentTarget.value })} />
            </label>
          ))}
          <label>
            Emails
            <input name="emails" value={edit.emails} onInput={(e) => setEdit({ ...edit, emails: e.currentTarget.value })} />
          </label>
          <div class="row">
            <button id="contact-save" class="good" onClick={save}>Save</button>
            <button onClick={() => setEdit(null)}>Cancel</button>
          </div>
        </div>
      ) : (
        <dl class="fields">
          {EDITABLE.slice(2).map(([k, label]) => c[k] && (<><dt>{label}</dt><dd>{c[k]}</dd></>))}
          {(c.emails || []).length > 0 && (<><dt>Email</dt><dd>{c.emails.join(", ")}</dd></>)}
          {Object.entries(c.external_ids || {}).map(([ch, v]) => (<><dt>{ch}</dt><dd>{v}</dd></>))}
          {Object.entries(c.custom_fields || {}).map(([k, v]) => (<><dt>{k}</dt><dd>{String(v)}</dd></>))}
          {(c.tags || []).length > 0 && (<><dt>Tags</dt><dd>{c.tags.map((t) => <span class="tag" key={t}>{t}</span>)}</dd></>)}
        </dl>
      )}
      <h3>Customer journey</h3>
      {journey && !journey.length && <p class="muted">Nothing yet.</p>}
      <ol class="journey" id="journey">
        {journey?.map((j) => (
          <li key={`${j.kind}-${j.id}`} data-kind={j.kind}>
            <span class="muted">{new Date(j.at).toLocaleDateString()} {clock(j.at)}</span> <ChannelIcon channel={j.kind === "call" ? "voice" : j.channel} /> {j.channel}
            {j.direction ? ` · ${j.direction}` : ""} {j.status ? ` · ${j.status}` : ""}
          </li>
        ))}
      </ol>
    </section>
  );
}
