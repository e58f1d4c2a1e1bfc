// One room's message timeline: server messages ordered by `seq`, local notices
// (joins, leaves, "history may be missing") where they happened, and the
// user's own messages that the server has not echoed yet.
//
// Pure data, no DOM, so the merge rules (no duplicates, no gaps) can be unit
// tested in node. Every entry has a stable `key` the view uses to reuse nodes.

export class Timeline {
  constructor() {
    this.entries = [];          // messages and notices, in display order
    this.bySeq = new Map();     // seq -> message entry, the duplicate guard
    this.pending = new Map();   // client_id -> pending entry, in send order
    this.noticeCount = 0;
  }

  get minSeq() {
    for (const entry of this.entries) if (entry.kind === 'message') return entry.seq;
    return 0;
  }

  get maxSeq() {
    for (let i = this.entries.length - 1; i >= 0; i -= 1) {
      if (this.entries[i].kind === 'message') return this.entries[i].seq;
    }
    return 0;
  }

  /**
   * Adds one server message. Returns {added, gap}: `added` is false for a
   * message already shown (a replayed echo, a history overlap), and `gap` is
   * {after, before} when seqs between the newest known message and this one
   * are missing, so the caller can fetch them with `history`.
   */
  addMessage(raw) {
    const message = toEntry(raw);
    if (message.clientId) this.pending.delete(message.clientId);
    const existing = this.bySeq.get(message.seq);
    if (existing) {
      // A tombstone ({seq, ts, deleted}) for a message we show: keep its
      // sender and time, drop the text.
      if (message.deleted && !existing.deleted) {
        existing.deleted = true;
        existing.text = '';
      }
      return { added: false, gap: null };
    }
    const newest = this.maxSeq;
    const gap = newest > 0 && message.seq > newest + 1
      ? { after: newest, before: message.seq }
      : null;
    this.bySeq.set(message.seq, message);
    if (message.seq > newest) {
      // Live traffic: after everything, including notices that came after the
      // previous message ("bob joined" stays above bob's first message).
      this.entries.push(message);
    } else {
      // Older than what we have (history, a gap fill): right after the last
      // message with a smaller seq, or at the very top.
      let index = 0;
      for (let i = this.entries.length - 1; i >= 0; i -= 1) {
        const entry = this.entries[i];
        if (entry.kind === 'message' && entry.seq < message.seq) { index = i + 1; break; }
      }
      this.entries.splice(index, 0, message);
    }
    return { added: true, gap };
  }

  /** Adds many messages (any order); returns the first gap found, if any. */
  addMessages(list) {
    let gap = null;
    const sorted = [...list].sort((a, b) => a.seq - b.seq);
    for (const raw of sorted) {
      if (!isMessage(raw)) continue;
      const result = this.addMessage(raw);
      gap = gap || result.gap;
    }
    return gap;
  }

  /** Throws away every server message and shows `list` instead (history was lost). */
  reset(list) {
    // Old notices go too: they sat between messages that are no longer shown.
    // Pending sends stay; the caller decides whether to resend them.
    this.entries = [];
    this.bySeq.clear();
    this.addMessages(list);
  }

  markDeleted(seq) {
    const entry = this.bySeq.get(seq);
    if (!entry) return false;
    entry.deleted = true;
    entry.text = '';
    return true;
  }

  addNotice(text, tone = 'info') {
    this.noticeCount += 1;
    const notice = { kind: 'notice', key: `n${this.noticeCount}`, text, tone };
    this.entries.push(notice);
    return notice;
  }

  addPending(clientId, text, from) {
    // `frameBytes` is set while the entry is on the wire (sent on the current
    // socket, no echo yet): 0 means not in flight. `closesInFlight` counts the
    // sockets that closed while it was.
    const entry = {
      kind: 'pending', key: `p${clientId}`, clientId, text, from,
      ts: Date.now(), status: 'pending', error: '', frameBytes: 0, closesInFlight: 0,
    };
    this.pending.set(clientId, entry);
    return entry;
  }

  failPending(clientId, error) {
    const entry = this.pending.get(clientId);
    if (!entry) return false;
    entry.status = 'failed';
    entry.error = error;
    entry.frameBytes = 0;
    return true;
  }

  /** Only the user brings a failed entry back (Retry): it is never re-sent on its own. */
  retryPending(clientId) {
    const entry = this.pending.get(clientId);
    if (!entry) return null;
    entry.status = 'pending';
    entry.error = '';
    entry.closesInFlight = 0;
    return entry;
  }

  /** Records that a pending entry went out on the current socket as a frame of `bytes`. */
  markInFlight(clientId, bytes) {
    const entry = this.pending.get(clientId);
    if (entry) entry.frameBytes = bytes;
  }

  /**
   * Marks failed the largest frame still in flight among the entries that
   * were in flight at `minCloses` socket closes or more, and returns its size
   * (0 when there is none); the others stay pending.
   *
   * Why the largest: the server reads frames in order and closes at the first
   * one over its limit, so the largest frame in flight is at least that big.
   */
  failLargestInFlight(error, { minCloses = 0 } = {}) {
    let largest = null;
    for (const entry of this.pending.values()) {
      if (entry.status !== 'pending' || entry.closesInFlight < minCloses) continue;
      if (entry.frameBytes > (largest?.frameBytes ?? 0)) largest = entry;
    }
    if (!largest) return 0;
    const { frameBytes } = largest;
    this.failPending(largest.clientId, error);
    return frameBytes;
  }

  /** The socket closed: counts it against every entry in flight on it. */
  countCloseInFlight() {
    for (const entry of this.pending.values()) if (entry.frameBytes > 0) entry.closesInFlight += 1;
  }

  /** The socket is gone: nothing is on the wire any more. */
  clearInFlight() {
    for (const entry of this.pending.values()) entry.frameBytes = 0;
  }

  removePending(clientId) {
    return this.pending.delete(clientId);
  }

  /** Everything to draw, in order: the timeline, then unconfirmed sends. */
  view() {
    return [...this.entries, ...this.pending.values()];
  }
}

export function isMessage(raw) {
  return raw && typeof raw === 'object' && Number.isInteger(raw.seq);
}

function toEntry(raw) {
  return {
    kind: 'message',
    key: `m${raw.seq}`,
    seq: raw.seq,
    ts: raw.ts,
    from: typeof raw.from === 'string' ? raw.from : '',
    text: raw.deleted ? '' : String(raw.text ?? ''),
    clientId: typeof raw.client_id === 'string' ? raw.client_id : '',
    deleted: Boolean(raw.deleted),
  };
}
