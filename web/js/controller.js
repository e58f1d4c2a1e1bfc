// User intents to protocol v1 frames, and the rules that span a reconnect:
// reclaiming the nick with the token, rejoining the open room with `since`
// and `epoch`, resending unconfirmed messages (same client_id), the typing
// throttle, and tagging every request with a `ref` so that an error can be
// routed back to what caused it, keeping every frame within the limits
// the server announced, and editing our own messages. Server frames are
// handled in server_events.js.

import { canEdit, editTextProblem } from './editing.js';
import { codePointCount, effectiveLimits, frameByteLength, frameProblem, textProblem } from './limits.js';
import { OwnMessages } from './ownership.js';
import { isMine, reactionProblem } from './reactions.js';
import { serverEvents, socketClosed } from './server_events.js';
import { RoomState, clearIdentity, saveOpenRoom } from './state.js';

// Send `typing {active:true}` at most this often while the user keeps typing;
// it also refreshes the indicator before its 6 s expiry on the other side.
const TYPING_RESEND_MS = 2_000;
// This long without a keystroke counts as "stopped typing".
const TYPING_IDLE_MS = 3_000;
// One page of scroll-back.
const HISTORY_PAGE = 50;
// The largest gap we try to fill with one `history` request.
const GAP_FILL_MAX = 100;
// Requests remembered for routing errors; old ones are forgotten, since most
// requests never get a reply carrying their ref (a `send` is answered by the
// `message` broadcast).
const MAX_TRACKED_REQUESTS = 200;

export class Controller {
  /**
   * `onIdentityLost(message)` is called when the server refuses our nick
   * (first entry or a failed reclaim): main.js shows the nickname screen.
   * `ownMessages` records what this identity sent (ownership.js).
   */
  constructor(store, connection, { onIdentityLost = () => {}, ownMessages = new OwnMessages() } = {}) {
    this.store = store;
    this.connection = connection;
    this.onIdentityLost = onIdentityLost;
    this.own = ownMessages;
    this.identity = null;        // {nick, token} we are (re)claiming
    this.restoreRoom = null;     // wire id of the room to reopen after a page reload
    this.online = false;         // welcomed on the current socket
    this.nextRef = 1;
    this.requests = new Map();   // ref -> context of the request
    this.typingActive = false;
    this.typingSentAt = -Infinity;
    this.typingIdleTimer = 0;
    this.typingLaterTimer = 0;
    // A frame bound the server enforced (close 1009) below what its welcome
    // said; kept for the page's lifetime so the next connection honours it.
    this.learnedMaxFrameBytes = Infinity;

    connection.addEventListener('open', () => this.sayHello());
    connection.addEventListener('frame', (event) => this.handleFrame(event.detail));
    connection.addEventListener('close', (event) => this.onSocketClosed(event.detail));
  }

  // --- user intents -------------------------------------------------------

  /** First entry from the nickname screen. */
  enter(nick) {
    this.identity = { nick, token: '' };
    this.own.clear();  // a new identity has sent nothing yet
    this.connection.start();
  }

  /** After a reload: reclaim the stored nick and reopen the stored room. */
  resume({ nick, token, room }) {
    this.identity = { nick, token };
    this.restoreRoom = room;
    this.store.screen = 'chat';
    this.store.changed('session');
    this.connection.start();
  }

  signOut() {
    this.identity = null;
    this.connection.stop();
    clearIdentity();
    this.own.clear();
    this.resetChat();
    this.store.screen = 'nickname';
    this.store.changed('session');
  }

  /**
   * Opens room `id` (the string key of store.lobby). `wireId` is the id exactly
   * as the server sent it (string or number), which is what frames carry.
   */
  openRoom(id, wireId = lobbyWireId(this.store, id)) {
    const { store } = this;
    if (store.room?.id === id) return;
    if (store.room) this.leaveRoom();
    store.room = new RoomState(wireId, store.lobby.get(id)?.name);
    saveOpenRoom(wireId);
    this.join(store.room);
    this.roomChanged();
  }

  leaveRoom() {
    const { room } = this.store;
    if (!room) return;
    this.stopTyping();
    if (this.online) this.request({ type: 'leave', room: room.wireId });
    this.store.room = null;
    saveOpenRoom('');
    this.roomChanged();
  }

  createRoom(name) {
    this.store.createError = '';
    this.request({ type: 'create_room', name }, { name });
    this.store.changed('lobby');
  }

  /** The limits in force: the welcome's, else the documented defaults. */
  get limits() {
    return effectiveLimits(this.store.session?.limits, this.learnedMaxFrameBytes);
  }

  /**
   * What the composer shows for `text`: its length against the limit, and why
   * it cannot be sent ('' when it can).
   */
  draftStatus(text) {
    const { room } = this.store;
    const problem = room ? this.outgoingProblem(this.sendFrame(room, text, randomId())) : textProblem(text, this.limits);
    return { chars: codePointCount(text), maxChars: this.limits.maxTextChars, problem };
  }

  /**
   * Sends `text` to the open room (or queues it until we are back in it).
   * Returns why it was refused, '' otherwise: a text the server would refuse
   * is not sent at all, so the composer keeps it for the user to shorten.
   */
  sendMessage(text) {
    const { room } = this.store;
    if (!room || !text.trim()) return '';
    const { problem } = this.draftStatus(text);
    if (problem) return problem;
    this.stopTyping();
    const entry = room.timeline.addPending(randomId(), text, this.store.session?.nick ?? '');
    this.own.add(entry.clientId);
    this.transmit(room, entry);
    this.store.changed('timeline');
    return '';
  }

  retryMessage(clientId) {
    const { room } = this.store;
    const entry = room?.timeline.retryPending(clientId);
    if (!entry) return;
    this.transmit(room, entry);
    this.store.changed('timeline');
  }

  discardMessage(clientId) {
    if (this.store.room?.timeline.removePending(clientId)) this.store.changed('timeline');
  }

  deleteMessage(seq) {
    const { room } = this.store;
    if (room) this.request({ type: 'delete', room: room.wireId, seq });
  }

  /**
   * Whether timeline entry `entry` is ours: one still in our outbox, or a
   * message sent under our token (ownership.js; never judged by the nick).
   */
  isOwn(entry) {
    return entry?.kind === 'pending' || this.own.owns(entry);
  }

  /** Whether to offer Edit on timeline entry `entry` now (editing.js). */
  canEdit(entry, now = Date.now()) {
    return canEdit(entry, { owns: (e) => this.own.owns(e), windowSeconds: this.limits.editWindowSeconds, now });
  }

  /**
   * Asks the server to replace the text of our message `seq` with `text`.
   * Returns why it was not sent ('' when it was, or when there was nothing to
   * change): the limits are the composer's, so the editor keeps the text for
   * the user to shorten. The outcome lands in room.edits: 'saving' until the
   * `edited` event removes it, 'failed' with the server's reason.
   */
  editMessage(seq, text) {
    const { room } = this.store;
    const entry = room?.timeline.bySeq.get(seq);
    if (!entry || entry.deleted) return 'This message is no longer there to edit.';
    if (room.edits.get(seq)?.status === 'saving') return '';
    if (text === entry.text) {
      room.edits.delete(seq);  // nothing to save: the editor just closes
      this.store.changed('timeline');
      return '';
    }
    const problem = editTextProblem(text) || this.editDraftProblem(seq, text);
    if (problem) return problem;
    const frame = { type: 'edit', room: room.wireId, seq, text };
    if (!this.online || !room.joined) return 'You are offline, so the edit was not saved. Try again once reconnected.';
    room.edits.set(seq, { status: 'saving', text, error: '', final: false });
    this.request(frame, { room: room.id, seq, text });
    this.store.changed('timeline');
    return '';
  }

  /** What the editor shows while the user types: why `text` would be refused by its length ('' if not). */
  editDraftProblem(seq, text) {
    const { room } = this.store;
    return room ? this.outgoingProblem({ type: 'edit', room: room.wireId, seq, text }) : '';
  }

  /** Forgets a refusal shown beside message `seq` (the user opened the editor again, or cancelled). */
  dismissEditError(seq) {
    const { room } = this.store;
    if (room?.edits.get(seq)?.status === 'failed' && room.edits.delete(seq)) this.store.changed('timeline');
  }

  /**
   * Adds our `emoji` to message `seq`, or takes it away when it is ours
   * already. Returns why nothing was sent ('' when it was).
   *
   * Only real toggles go out, judged by our own `mine`: the server answers a
   * react that changes nothing with silence, so the app must never wait for
   * that. The chip changes when the `reaction` event arrives, not before.
   */
  toggleReaction(seq, emoji) {
    const { room } = this.store;
    const entry = room?.timeline.bySeq.get(seq);
    if (!entry || entry.deleted) return 'This message is no longer there to react to.';
    const on = !isMine(entry.reactions, emoji);
    const problem = on ? reactionProblem(emoji, entry.reactions, this.limits) : '';
    if (problem) return problem;
    if (!this.online || !room.joined) return 'You are offline, so the reaction was not saved. Try again once reconnected.';
    if (room.reactionErrors.delete(seq)) this.store.changed('timeline');
    this.request({ type: 'react', room: room.wireId, seq, emoji, on }, { room: room.id, seq, emoji });
    return '';
  }

  /** Why `emoji` typed in the picker of message `seq` would be refused ('' if it would not). */
  reactionDraftProblem(seq, emoji) {
    const entry = this.store.room?.timeline.bySeq.get(seq);
    return entry ? reactionProblem(emoji, entry.reactions, this.limits) : '';
  }

  /** Scroll-back: one page older than the oldest message shown. */
  loadOlder() {
    const { room } = this.store;
    if (!room || !room.joined || room.history !== 'more') return;
    const before = room.timeline.minSeq;
    if (before <= 1) {
      room.history = 'start';
    } else {
      room.history = 'loading';
      this.request({ type: 'history', room: room.wireId, before, limit: HISTORY_PAGE }, { room: room.id });
    }
    this.store.changed('timeline');
  }

  /** Called on every edit of the composer; `hasText` is whether it is non-empty. */
  composerInput(hasText) {
    const { room } = this.store;
    if (!room?.joined || !this.online) return;
    if (!hasText) {
      this.stopTyping();
      return;
    }
    const wait = TYPING_RESEND_MS - (Date.now() - this.typingSentAt);
    if (wait <= 0) {
      this.announceTyping();
    } else if (!this.typingActive && !this.typingLaterTimer) {
      // Typing again right after sending: the throttle holds the announcement
      // back, so make it when the 2 s are up instead of at some later keystroke.
      this.typingLaterTimer = setTimeout(() => this.announceTyping(), wait);
    }
    clearTimeout(this.typingIdleTimer);
    this.typingIdleTimer = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  announceTyping() {
    clearTimeout(this.typingLaterTimer);
    this.typingLaterTimer = 0;
    const { room } = this.store;
    if (!room?.joined || !this.online) return;
    this.request({ type: 'typing', room: room.wireId, active: true });
    this.typingSentAt = Date.now();
    this.typingActive = true;
  }

  stopTyping() {
    clearTimeout(this.typingIdleTimer);
    clearTimeout(this.typingLaterTimer);
    this.typingLaterTimer = 0;
    if (!this.typingActive) return;
    this.typingActive = false;
    const { room } = this.store;
    if (room?.joined && this.online) this.request({ type: 'typing', room: room.wireId, active: false });
  }

  openDm(peer) {
    const { store } = this;
    if (!peer || peer === store.session?.nick) return;
    store.dmOpen = peer;
    store.thread(peer).unread = 0;
    store.changed('dms');
  }

  closeDm() {
    this.store.dmOpen = null;
    this.store.changed('dms');
  }

  /** Sends a direct message; returns why it was refused ('' otherwise), as sendMessage does. */
  sendDm(peer, text) {
    if (!text.trim()) return '';
    const problem = this.outgoingProblem({ type: 'dm', to: peer, text, client_id: randomId() });
    if (problem) return problem;
    const entry = { clientId: randomId(), text, status: 'pending', error: '' };
    this.store.thread(peer).pending.set(entry.clientId, entry);
    this.transmitDm(peer, entry);
    this.store.changed('dms');
    return '';
  }

  retryDm(peer, clientId) {
    const entry = this.store.thread(peer).pending.get(clientId);
    if (!entry) return;
    entry.status = 'pending';
    entry.error = '';
    this.transmitDm(peer, entry);
    this.store.changed('dms');
  }

  discardDm(peer, clientId) {
    this.store.thread(peer).pending.delete(clientId);
    this.store.changed('dms');
  }

  dismissAlert() {
    this.store.alert = null;
    this.store.changed('alert');
  }

  // --- sending --------------------------------------------------------------

  /** Sends with a fresh `ref` and remembers `context` to route a reply or error. */
  request(frame, context = {}) {
    const ref = this.nextRef++;
    this.requests.set(ref, { ...context, type: frame.type });
    if (this.requests.size > MAX_TRACKED_REQUESTS) {
      this.requests.delete(this.requests.keys().next().value);
    }
    return this.connection.send({ ...frame, ref });
  }

  sayHello() {
    if (!this.identity) return;
    const hello = { type: 'hello', nick: this.identity.nick };
    if (this.identity.token) hello.token = this.identity.token;
    this.request(hello, { reclaim: Boolean(this.identity.token) });
  }

  join(room) {
    if (!this.online) return;  // the rejoin after `welcome` sends it
    const frame = { type: 'join', room: room.wireId };
    const since = room.timeline.maxSeq;
    // Resume only what we missed; without an epoch we cannot tell whether our
    // seqs still mean the same messages, so ask for a fresh window instead.
    room.resume = since > 0 && room.epoch !== null ? { since, epoch: room.epoch } : null;
    if (room.resume) Object.assign(frame, room.resume);
    room.joined = false;
    this.request(frame, { room: room.id });
  }

  sendFrame(room, text, clientId) {
    return { type: 'send', room: room.wireId, text, client_id: clientId };
  }

  /** Why `frame` would be refused, measured as it goes out (with the next `ref`). */
  outgoingProblem(frame) {
    return textProblem(frame.text, this.limits) || frameProblem({ ...frame, ref: this.nextRef }, this.limits);
  }

  /**
   * Sends a pending room message, once we are in the room; else it waits for
   * the rejoin. One over the limits (a retry after the limits shrank) fails
   * here instead of closing the connection.
   */
  transmit(room, entry) {
    if (!this.online || !room.joined) return;
    const frame = this.sendFrame(room, entry.text, entry.clientId);
    const problem = this.outgoingProblem(frame);
    if (problem) {
      room.timeline.failPending(entry.clientId, problem);
      return;
    }
    const bytes = frameByteLength({ ...frame, ref: this.nextRef });
    if (this.request(frame, { room: room.id, clientId: entry.clientId })) {
      room.timeline.markInFlight(entry.clientId, bytes);
    }
  }

  transmitDm(peer, entry) {
    const frame = { type: 'dm', to: peer, text: entry.text, client_id: entry.clientId };
    const problem = this.outgoingProblem(frame);
    const sent = !problem && this.online && this.request(frame, { peer, clientId: entry.clientId });
    if (!sent) {
      entry.status = 'failed';
      entry.error = problem || 'Not sent: you are offline.';
    }
  }

  // --- receiving -------------------------------------------------------------

  handleFrame(frame) {
    const handler = serverEvents[frame.type];
    if (handler) handler(this, frame);
    // Unknown types are ignored: a newer server may add events.
  }

  onSocketClosed(detail) {
    socketClosed(this, detail);
  }

  // --- helpers -----------------------------------------------------------------

  fillGap(room, gap) {
    const missing = gap.before - gap.after - 1;
    if (missing > GAP_FILL_MAX) {
      room.timeline.addNotice('Some messages could not be loaded; history may be incomplete.', 'warn');
    }
    this.request(
      { type: 'history', room: room.wireId, before: gap.before, limit: Math.min(missing, GAP_FILL_MAX) },
      { room: room.id, gapFill: true },
    );
  }

  showAlert(text, tone = 'info', kind = '') {
    this.store.alert = { text, tone, kind };
    this.store.changed('alert');
  }

  resetChat() {
    const { store } = this;
    store.session = null;
    store.room = null;
    store.dms.clear();
    store.dmOpen = null;
    store.lobby.clear();
    store.lobbyLoaded = false;
    this.roomChanged();
    store.changed('dms');
    store.changed('lobby');
  }

  roomChanged() {
    for (const topic of ['room', 'members', 'timeline', 'typing']) this.store.changed(topic);
  }
}

/** The server's own id value for a lobby room (falls back to the key). */
function lobbyWireId(store, id) {
  return store.lobby.get(id)?.wireId ?? id;
}

/**
 * A random client_id. crypto.randomUUID() only exists in secure contexts
 * (https or localhost); getRandomValues works on a plain-http LAN address too.
 */
export function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
