// One room's message timeline: server messages ordered by `seq`, local notices
// (joins, leaves, "history may be missing") where they happened, and the
// user's own messages that the server has not echoed yet.
//
// Pure data, no DOM, so the merge rules (no duplicates, no gaps, the latest
// edit wins) can be unit tested in node. Every entry has a stable `key` the
// view uses to reuse nodes.

import { applyReaction, mergeReactions, reactionsFromServer } from './reactions.js';

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
        existing.editedAt = 0;
        existing.reactions = [];
      } else if (!message.deleted && !existing.deleted) {
        this.applyEdit(message.seq, message.text, message.editedAt);
        existing.reactions = mergeReactions(existing.reactions, raw.reactions);
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

  /**
   * A `message` frame. Normally that is addMessage, but the server answers a
   * repeated `send` (same client_id, re-sent after a reconnect) with the
   * original message, which may be far older than everything shown. Put at
   * the top it would hide the hole between it and the rest from scroll-back
   * (which continues below the oldest seq shown), so it only confirms the
   * send; scroll-back brings it in its place.
   */
  addLiveMessage(raw) {
    const oldest = this.minSeq;
    if (oldest > 0 && raw.seq < oldest - 1 && !this.bySeq.has(raw.seq)) {
      if (typeof raw.client_id === 'string') this.pending.delete(raw.client_id);
      return { added: false, gap: null };
    }
    return this.addMessage(raw);
  }

  /**
   * An edit of message `seq` (an `edited` event, or a copy of the message
   * with a later `edited_at`). Returns whether the text changed.
   *
   * An edit of a message not shown is ignored on purpose: it is older than
   * what we loaded, or (in a cluster) not here yet. Every later copy of it
   * (history, joined, a gap fill, search) comes from the store, which holds
   * the latest text and `edited_at`, so keeping the event would buy nothing.
   * An edit older than the one shown (a history page read before the edit
   * but delivered after the `edited` event) is ignored too: the latest wins.
   */
  applyEdit(seq, text, editedAt) {
    const entry = this.bySeq.get(seq);
    if (!entry || entry.deleted || !(editedAt > 0) || editedAt < entry.editedAt) return false;
    const changed = entry.text !== String(text) || entry.editedAt !== editedAt;
    entry.text = String(text);
    entry.editedAt = editedAt;
    return changed;
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
    entry.editedAt = 0;
    entry.reactions = [];  // a tombstone has none
    return true;
  }

  /**
   * A `reaction` event (reactions.js). Returns whether a message we show
   * changed. One for a message we do not hold is ignored, as `edited` is:
   * every later copy of it comes from the store with the current counts.
   */
  applyReaction(event, myNick) {
    const entry = this.bySeq.get(event?.seq);
    if (!entry || entry.deleted) return false;
    const before = entry.reactions;
    entry.reactions = applyReaction(before, event, myNick);
    return entry.reactions !== before;
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
    // When the text was last edited (ms since the epoch); 0: never.
    editedAt: !raw.deleted && Number.isFinite(raw.edited_at) && raw.edited_at > 0 ? raw.edited_at : 0,
    // [{emoji, count, mine, live}] in order of first use (reactions.js).
    reactions: raw.deleted ? [] : reactionsFromServer(raw.reactions),
  };
}
