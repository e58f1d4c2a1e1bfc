// Application state: who we are, the lobby, the open room, DM threads.
//
// Plain data plus small mutators; the controller decides *when* to change
// things, the views only read. After a change the controller calls
// `store.changed(topic)` and the views subscribed to that topic redraw:
//   session, lobby, room, members, timeline, typing, dms, alert.

import { Timeline } from './timeline.js';

// How long a "bob is typing" indicator lives without a refresh. The server
// expires typing state itself; this is the client's own bound in case the
// `active:false` never arrives (a dropped connection, a lost frame).
export const TYPING_TTL_MS = 6_000;

// `sent`: the client_ids this tab sent under its token (ownership.js).
export const STORAGE_KEYS = Object.freeze({
  nick: 'parley.nick', token: 'parley.token', room: 'parley.room', sent: 'parley.sent',
});

export class RoomState {
  constructor(wireId, name) {
    this.id = String(wireId);   // key for comparisons (frames may carry numbers)
    this.wireId = wireId;       // sent back exactly as the server gave it
    this.name = name || this.id;
    this.epoch = null;          // history lineage from `joined`; sent back on rejoin
    this.joined = false;        // false while (re)joining
    this.members = new Set();
    this.timeline = new Timeline();
    this.typing = new Map();    // nick -> expiry time (ms)
    // Scroll-back: 'more' (older messages may exist), 'loading', 'start'
    // (the room's first message is shown) or 'trimmed' (older ones are gone).
    this.history = 'more';
    // Our edits not yet confirmed by `edited`, or refused: seq ->
    // {status: 'saving'|'failed', text, error, final}. `final`: trying again
    // cannot help (too late, not ours, gone), so the editor closes.
    this.edits = new Map();
    // Why our last reaction on a message was refused: seq -> the server's
    // message, shown beside it until our next reaction there is confirmed.
    this.reactionErrors = new Map();
  }

  /** Nicks currently typing, oldest first, dropping expired entries. */
  typingNicks(now = Date.now()) {
    for (const [nick, expires] of this.typing) if (expires <= now) this.typing.delete(nick);
    return [...this.typing.keys()];
  }

  /** When the next typing indicator expires (for the view's redraw timer). */
  nextTypingExpiry() {
    let next = Infinity;
    for (const expires of this.typing.values()) next = Math.min(next, expires);
    return next;
  }

  setTyping(nick, active, now = Date.now()) {
    if (active) this.typing.set(nick, now + TYPING_TTL_MS);
    else this.typing.delete(nick);
  }

  renameMember(old, nick) {
    if (this.members.delete(old)) this.members.add(nick);
    if (this.typing.has(old)) {
      this.typing.set(nick, this.typing.get(old));
      this.typing.delete(old);
    }
  }
}

export class DmThread {
  constructor(peer) {
    this.peer = peer;
    this.messages = [];          // confirmed `dm` events, in arrival order
    this.ids = new Set();        // duplicate guard (a replayed echo)
    this.pending = new Map();    // client_id -> {clientId, text, status, error}
    this.unread = 0;
  }

  add(dm) {
    if (dm.client_id) this.pending.delete(dm.client_id);
    const id = dm.id ?? `${dm.from}:${dm.ts}:${dm.text}`;
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    this.messages.push({ id, from: dm.from, to: dm.to, text: String(dm.text ?? ''), ts: dm.ts });
    return true;
  }
}

export class Store extends EventTarget {
  constructor() {
    super();
    this.screen = 'nickname';  // 'nickname' or 'chat'
    this.session = null;     // {nick, token, sessionId, limits} once welcomed
    this.lobby = new Map();  // room id -> {id, name, members}
    this.lobbyLoaded = false;
    this.room = null;        // RoomState of the open room
    this.dms = new Map();    // peer nick -> DmThread
    this.dmOpen = null;      // peer nick whose thread is shown
    this.alert = null;       // {text, tone, kind} shown in the banner
    this.createError = '';   // why the last create_room failed
  }

  changed(topic) {
    this.dispatchEvent(new Event(topic));
  }

  on(topic, handler) {
    this.addEventListener(topic, handler);
  }

  setLobby(rooms) {
    this.lobby.clear();
    for (const room of rooms) if (room && room.id !== undefined) this.lobby.set(String(room.id), normalizeRoom(room));
    this.lobbyLoaded = true;
  }

  updateLobbyRoom(room) {
    if (room && room.id !== undefined) this.lobby.set(String(room.id), normalizeRoom(room));
  }

  /** Rooms for display: busiest first, then by name. */
  lobbyRooms() {
    return [...this.lobby.values()].sort(
      (a, b) => b.members - a.members || a.name.localeCompare(b.name),
    );
  }

  thread(peer) {
    let thread = this.dms.get(peer);
    if (!thread) {
      thread = new DmThread(peer);
      this.dms.set(peer, thread);
    }
    return thread;
  }

  renameDmPeer(old, nick) {
    const thread = this.dms.get(old);
    if (!thread || this.dms.has(nick)) return;
    this.dms.delete(old);
    thread.peer = nick;
    this.dms.set(nick, thread);
    if (this.dmOpen === old) this.dmOpen = nick;
  }
}

function normalizeRoom(room) {
  return {
    id: String(room.id),
    wireId: room.id,
    name: typeof room.name === 'string' && room.name ? room.name : String(room.id),
    members: Number.isFinite(room.members) ? room.members : 0,
  };
}

// --- identity kept across reloads -----------------------------------------
// sessionStorage, not localStorage: the token is per tab, so two tabs are two
// users (handy for testing) and closing the tab forgets the identity.

export function loadIdentity(storage = globalThis.sessionStorage) {
  const nick = storage?.getItem(STORAGE_KEYS.nick);
  if (!nick) return null;
  return {
    nick,
    token: storage.getItem(STORAGE_KEYS.token) || '',
    room: parseStored(storage.getItem(STORAGE_KEYS.room)),
  };
}

export function saveIdentity({ nick, token }, storage = globalThis.sessionStorage) {
  storage?.setItem(STORAGE_KEYS.nick, nick);
  if (token) storage?.setItem(STORAGE_KEYS.token, token);
}

/** Remembers the open room's wire id (as JSON, so a numeric id stays a number). */
export function saveOpenRoom(wireId, storage = globalThis.sessionStorage) {
  if (wireId !== null && wireId !== undefined && wireId !== '') storage?.setItem(STORAGE_KEYS.room, JSON.stringify(wireId));
  else storage?.removeItem(STORAGE_KEYS.room);
}

function parseStored(text) {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

export function clearIdentity(storage = globalThis.sessionStorage) {
  for (const key of Object.values(STORAGE_KEYS)) storage?.removeItem(key);
}
