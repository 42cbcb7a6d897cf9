// The supervisor wall: every agent's live state and timers, grouped by
// queue; listen/whisper/barge on the calls of agents who allow chanspy;
// waiting interactions per queue.
import { useEffect, useState } from "preact/hooks";
import { get, post } from "./api.js";
import { since } from "./util.js";

const SPY = ["listen", "whisper", "barge"];

export function Wall({ states, now, notify, waiting, queueList }) {
  const [queue, setQueue] = useState("");
  // Agent states name voice queues only; digital memberships come from
  // the directory (agent id → queue names).
  const [members, setMembers] = useState({});
  useEffect(() => {
    let live = true;
    Promise.all(queueList.map((q) => get(`/queues/${q.id}/agents`).catch(() => ({ items: [] })))).then((lists) => {
      if (!live) return;
      const m = {};
      for (const l of lists) for (const x of l.items || []) (m[x.agent_id] ||= new Set()).add(x.queue_name);
      setMembers(m);
    });
    return () => {
      live = false;
    };
  }, [queueList]);
  // Listen/whisper/barge only where the agent allows chanspy.
  const [chanspy, setChanspy] = useState({});
  useEffect(() => {
    get("/agents?per_page=500")
      .then((l) => setChanspy(Object.fromEntries((l?.items || []).map((a) => [a.id, !!a.chanspy]))))
      .catch(() => {});
  }, []);
  const queuesOf = (a) => [...new Set([...(a.queues || []).map((q) => q.queue), ...(members[a.agent_id] || [])])].sort();
  const agents = Object.values(states).sort((a, b) => (a.username || "").localeCompare(b.username || ""));
  const queues = [...new Set([...queueList.map((q) => q.name), ...agents.flatMap(queuesOf)])].sort();
  const shown = queue ? agents.filter((a) => queuesOf(a).includes(queue)) : agents;
  const spy = (a, mode) =>
    post(`/agents/${a.agent_id}/spy`, { mode }).then(
      () => notify(`${mode}: your desk phone rings`),
      (e) => notify(`${mode}: ${e.message}`, "error"),
    );
  const count = (s) => agents.filter((a) => a.state === s).length;
  return (
    <div class="wall">
      <section class="panel" aria-label="Summary">
        <div class="row wrap">
          <label>
            Queue{" "}
            <select id="wall-queue" value={queue} onChange={(e) => setQueue(e.currentTarget.value)}>
              <option value="">All</option>
              {queues.map((q) => (
                <option key={q}>{q}</option>
              ))}
            </select>
          </label>
          {["ready", "paused", "on_call", "ringing", "logged_out"].map((s) => (
            <span key={s} class={`pill ${s}`}>{s.replace("_", " ")} {count(s)}</span>
          ))}
        </div>
        <ul class="waiting row wrap" id="wall-waiting">
          {waiting.map((w) => (
            <li key={w.queue_id} class={`pill ${w.waiting ? "hot" : ""}`} data-queue={w.name}>{w.name}: {w.waiting} waiting</li>
          ))}
        </ul>
      </section>
      <section class="panel">
        <table class="wall-table" id="wall">
          <thead>
            <tr><th>Agent</th><th>State</th><th>Since</th><th>Logged in</th><th>Paused</th><th>Call</th><th>Digital</th><th>Queues</th><th /></tr>
          </thead>
          <tbody>
            {shown.map((a) => {
              const call = (a.calls || [])[0] || a.call;
              return (
                <tr key={a.agent_id} data-agent={a.username}>
                  <td>{a.username}</td>
                  <td><span class={`pill ${a.state}`} data-state={a.state}>{a.state.replace("_", " ")}{a.reason && a.state === "paused" ? `: ${a.reason}` : ""}</span></td>
                  <td class="num">{since(a.since, now)}</td>
                  <td class="num">{a.logged_in ? since(a.logged_in_at, now) : "–"}</td>
                  <td class="num">{a.paused_since ? since(a.paused_since, now) : "–"}</td>
                  <td>{call ? `${call.peer || call.caller || ""} ${call.queue ? `(${call.queue})` : ""}` : ""}</td>
                  <td class="small">{(a.channels || []).filter((c) => c.open > 0).map((c) => `${c.channel} ${c.open}/${c.capacity || "∞"}`).join(" · ") || "–"}
                    {a.paused_channels?.length ? <span class="muted"> paused on {a.paused_channels.join(", ")}</span> : null}</td>
                  <td class="small">{queuesOf(a).join(", ")}</td>
                  <td class="spy">
                    {call && chanspy[a.agent_id] && SPY.map((m) => (
                      <button key={m} class="small" onClick={() => spy(a, m)}>{m}</button>
                    ))}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </section>
    </div>
  );
}

// useWaiting counts queued and offered interactions per digital queue.
export function useWaiting(stream, queues) {
  const [waiting, setWaiting] = useState([]);
  useEffect(() => {
    let timer = null;
    const load = async () => {
      try {
        const out = [];
        for (const q of queues.filter((q) => q.channel !== "voice")) {
          const [a, b] = await Promise.all([
            get(`/interactions?status=queued&queue_id=${q.id}&per_page=1`),
            get(`/interactions?status=offered&queue_id=${q.id}&per_page=1`),
          ]);
          out.push({ queue_id: q.id, name: q.name, waiting: (a?.total || 0) + (b?.total || 0) });
        }
        setWaiting(out);
      } catch {}
    };
    load();
    const off = stream.on((ev) => {
      if (ev.type === "interaction" || ev.type === "offer") {
        clearTimeout(timer);
        timer = setTimeout(load, 300);
      }
    });
    return () => {
      off();
      clearTimeout(timer);
    };
  }, [queues]);
  return waiting;
}
