// The outbox holds the visitor's messages until the server has stored
// them. Each carries a client id made once, so sending it again — over a
// new socket, or over HTTP while the socket is down — stores it once.
export function newClientID() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

export class Outbox {
  // sendFrame(frame) → false when the socket is down; post(message) →
  // Promise; socket() → the number of the socket now open (0: none), so a
  // message goes once on each socket, not again on every flush.
  // persist(list) keeps what is not yet stored across a reload.
  constructor(sendFrame, post, socket, persist) {
    this.sendFrame = sendFrame;
    this.post = post;
    this.socket = socket;
    this.persist = persist || (() => {});
    this.items = []; // in the order the visitor wrote them
    this.posting = false;
  }

  add(m) {
    return new Promise((resolve, reject) => {
      this.items.push(Object.assign({ resolve, reject }, m));
      this.save();
      this.flush();
    });
  }

  save() {
    this.persist(this.items.map(({ client_id, body, attachments }) => ({ client_id, body, attachments })));
  }

  pending() {
    return this.items.map(({ client_id, body, attachments, failed }) => ({ client_id, body, attachments, failed }));
  }

  // flush sends everything not yet stored, in order: over the socket when
  // it is up (the server reads frames in order), else one HTTP POST after
  // another.
  flush() {
    // One path at a time keeps the order: while HTTP posts, the socket
    // waits for it to finish (postAll hands over when the socket is up).
    if (!this.items.length || this.posting) return;
    const sock = this.socket();
    if (sock) {
      for (const m of this.items) {
        if (m.failed || m.sentOn === sock) continue;
        if (!this.sendFrame({ type: "send", client_id: m.client_id, body: m.body, attachments: m.attachments })) break;
        m.sentOn = sock;
      }
      if (this.items.every((m) => m.failed || m.sentOn === sock)) return;
    }
    this.postAll();
  }

  async postAll() {
    if (this.posting) return;
    this.posting = true;
    try {
      while (this.items.some((m) => !m.failed) && !this.socket()) {
        const m = this.items.find((x) => !x.failed);
        try {
          const res = await this.post(m);
          this.done(m.client_id, res.message);
        } catch (e) {
          if (e.status && e.status >= 400 && e.status < 500 && e.status !== 429) {
            this.fail(m.client_id, e.message);
          } else {
            return; // offline: the next reconnect flushes again
          }
        }
      }
    } finally {
      this.posting = false;
    }
    if (this.socket()) this.flush();
  }

  done(clientID, message) {
    const i = this.items.findIndex((m) => m.client_id === clientID);
    if (i < 0) return;
    const [m] = this.items.splice(i, 1);
    this.save();
    m.resolve(Object.assign({}, message));
  }

  fail(clientID, why) {
    const i = this.items.findIndex((m) => m.client_id === clientID);
    if (i < 0) return;
    const [m] = this.items.splice(i, 1);
    this.save();
    m.reject(new Error(why || "not sent"));
  }
}
