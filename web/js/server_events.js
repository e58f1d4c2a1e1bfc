// How the client reacts to what the server says: one handler per server
// frame type (protocol v1), error frames routed by `ref` to what caused them,
// and the clean-up when the socket closes. The other direction (user intents
// to client frames) is controller.js; `c` below is that Controller.

import { isFinalEditError } from './editing.js';
import { clearIdentity, saveIdentity, saveOpenRoom } from './state.js';

// Close codes worth explaining (docs/protocol.md); 1000 "idle timeout", 1001
// after `shutdown` and 1006 (the network) just reconnect.
const CLOSE_MESSAGES = {
  1007: 'The server closed the connection because it received invalid text (not UTF-8).',
  1008: 'The server closed the connection because too many requests were refused (policy violation). Press "Reconnect now" to try again.',
  1009: 'The server closed the connection because a message was too large.',
  1011: 'The server closed the connection after an internal error. Reconnecting…',
  1013: 'The server is overloaded or could not keep up sending to you, so it closed the connection. Reconnecting…',
};

const TOO_LARGE_CLOSED = 'The server closed the connection because this message was too large; '
  + 'it will not be sent again unless you retry it.';
// Connections lost while one message was being sent before it counts as the
// cause (see socketClosed). One drop is the network's ordinary bad luck.
const DROPS_BEFORE_GIVING_UP = 2;
const DROPPED_WHILE_SENDING = `The connection dropped ${DROPS_BEFORE_GIVING_UP} times while this message was being sent `
  + '(it may be too large for the server); it will not be sent again unless you retry it.';
const EDIT_UNCONFIRMED = 'The connection dropped before the server confirmed this edit; '
  + 'it may not have been saved. Save it again to make sure.';

// Closes explained by their reason rather than their code.
function closeMessage(code, reason) {
  if (code === 1000 && /replaced/i.test(reason)) {
    return 'You connected from another tab or window, so this one went offline. Press "Reconnect now" to use it here.';
  }
  return CLOSE_MESSAGES[code] ?? '';
}

export const serverEvents = {
  welcome(c, frame) {
    const { store } = c;
    c.online = true;
    const previousToken = c.identity?.token;
    c.identity = { nick: frame.nick, token: frame.token || c.identity?.token || '' };
    if (previousToken && c.identity.token !== previousToken) {
      // The server did not know our token and gave a new one: what we sent
      // under the old one is no longer ours to edit. Messages still waiting
      // go out under the new one.
      c.own.clear();
      for (const entry of store.room?.timeline.pending.values() ?? []) c.own.add(entry.clientId);
    }
    store.session = { nick: frame.nick, token: c.identity.token, sessionId: frame.session, limits: frame.limits || {} };
    saveIdentity(c.identity);
    store.screen = 'chat';
    if (store.alert?.kind === 'shutdown') store.alert = null;
    c.connection.confirmOnline();
    c.request({ type: 'watch_lobby' });
    if (store.room) {
      c.join(store.room);
    } else if (c.restoreRoom !== null && c.restoreRoom !== undefined) {
      const wireId = c.restoreRoom;
      c.restoreRoom = null;
      c.openRoom(String(wireId), wireId);
    }
    store.changed('session');
    store.changed('alert');
  },

  rooms(c, frame) {
    c.store.setLobby(Array.isArray(frame.rooms) ? frame.rooms : []);
    c.store.changed('lobby');
  },

  room_update(c, frame) {
    c.store.updateLobbyRoom(frame.room);
    c.store.changed('lobby');
  },

  room_removed(c, frame) {
    const id = String(frame.id);
    c.store.lobby.delete(id);
    c.store.changed('lobby');
    if (c.store.room?.id === id) {
      c.showAlert('The room you were in was removed.', 'warn');
      c.store.room = null;
      saveOpenRoom('');
      c.roomChanged();
    }
  },

  room_created(c, frame) {
    const context = c.requests.get(frame.ref);
    c.store.updateLobbyRoom(frame.room);
    c.store.changed('lobby');
    // Step into the room we asked for (not rooms others create).
    if (context?.type === 'create_room' && frame.room?.id !== undefined) c.openRoom(String(frame.room.id), frame.room.id);
  },

  joined(c, frame) {
    const { store } = c;
    const { room } = store;
    if (!room || String(frame.room?.id) !== room.id) return;  // we moved on meanwhile
    room.name = frame.room.name || room.name;
    room.members = new Set(Array.isArray(frame.members) ? frame.members : []);
    // Whether the list includes the joiner is not specified; show us either way.
    if (store.session) room.members.add(store.session.nick);
    room.typing.clear();
    room.joined = true;
    const messages = Array.isArray(frame.messages) ? frame.messages : [];
    const epoch = frame.epoch ?? null;
    if (room.resume) {
      const sameLineage = room.resume.epoch === epoch;
      if (frame.complete === false || !sameLineage) {
        // Our seqs may no longer match the server's: start over from what it gave us.
        room.timeline.reset(messages);
        room.edits.clear();  // their seqs may mean other messages now
        room.reactionErrors.clear();
        room.timeline.addNotice('While you were away some messages could not be recovered; some history may be missing.', 'warn');
        room.history = historyStateAfterReset(room);
      } else {
        // maxSeq is still `since` here, so a first message after since + 1
        // shows up as a gap too.
        const gap = room.timeline.addMessages(messages);
        if (gap) c.fillGap(room, gap);
      }
    } else {
      room.timeline.reset(messages);
      room.history = historyStateAfterReset(room);
    }
    room.resume = null;
    room.epoch = epoch;
    saveOpenRoom(room.wireId);
    // Messages the server never echoed (not in the resumed range) were lost
    // with the old socket: send them again, same client_id.
    for (const entry of room.timeline.pending.values()) {
      if (entry.status === 'pending') c.transmit(room, entry);
    }
    c.roomChanged();
  },

  left() {
    // The room was dropped from the state when the user left; nothing to do.
  },

  presence(c, frame) {
    const { room, session } = c.store;
    if (!room || String(frame.room) !== room.id || !frame.nick || frame.nick === session?.nick) return;
    if (frame.event === 'join') {
      room.members.add(frame.nick);
      room.timeline.addNotice(`${frame.nick} joined`);
    } else if (frame.event === 'leave') {
      room.members.delete(frame.nick);
      room.setTyping(frame.nick, false);
      room.timeline.addNotice(`${frame.nick} left`);
    }
    c.store.changed('members');
    c.store.changed('timeline');
    c.store.changed('typing');
  },

  message(c, frame) {
    const { room } = c.store;
    if (!room || String(frame.room) !== room.id) return;
    const { gap } = room.timeline.addLiveMessage(frame);
    room.setTyping(frame.from, false);
    if (gap) c.fillGap(room, gap);
    c.store.changed('timeline');
    c.store.changed('typing');
  },

  history(c, frame) {
    const { room } = c.store;
    if (!room || String(frame.room) !== room.id) return;
    const context = c.requests.get(frame.ref);
    const messages = Array.isArray(frame.messages) ? frame.messages : [];
    room.timeline.addMessages(messages);
    // A gap fill does not change how far back we can scroll.
    if (!context?.gapFill && room.history === 'loading') {
      if (room.timeline.minSeq <= 1) room.history = 'start';
      else if (messages.length === 0 || frame.complete === false) room.history = 'trimmed';
      else room.history = 'more';
    }
    c.store.changed('timeline');
  },

  typing(c, frame) {
    const { room, session } = c.store;
    if (!room || String(frame.room) !== room.id || !frame.nick || frame.nick === session?.nick) return;
    room.setTyping(frame.nick, Boolean(frame.active));
    c.store.changed('typing');
  },

  deleted(c, frame) {
    const { room } = c.store;
    if (!room || String(frame.room) !== room.id) return;
    const editDropped = room.edits.delete(frame.seq);
    const errorDropped = room.reactionErrors.delete(frame.seq);
    if (room.timeline.markDeleted(frame.seq) || editDropped || errorDropped) c.store.changed('timeline');
  },

  edited(c, frame) {
    const { room } = c.store;
    if (!room || String(frame.room) !== room.id || !Number.isInteger(frame.seq)) return;
    // edited_at is always sent; without it the text is still the newest we know.
    const editedAt = Number.isFinite(frame.edited_at) && frame.edited_at > 0 ? frame.edited_at : Date.now();
    const changed = room.timeline.applyEdit(frame.seq, frame.text ?? '', editedAt);
    // Only the author edits, so this confirms our own save (or ends a refusal shown beside it).
    if (room.edits.delete(frame.seq) || changed) c.store.changed('timeline');
  },

  reaction(c, frame) {
    const { room, session } = c.store;
    if (!room || String(frame.room) !== room.id || !Number.isInteger(frame.seq)) return;
    const changed = room.timeline.applyReaction(frame, session?.nick);
    // Ours confirmed: a refusal shown beside the message is stale now.
    const errorDropped = frame.nick === session?.nick && room.reactionErrors.delete(frame.seq);
    if (changed || errorDropped) c.store.changed('timeline');
  },

  dm(c, frame) {
    const { store } = c;
    const me = store.session?.nick;
    const peer = frame.from === me ? frame.to : frame.from;
    if (!peer) return;
    const thread = store.thread(peer);
    if (thread.add(frame) && frame.from !== me && store.dmOpen !== peer) thread.unread += 1;
    store.changed('dms');
  },

  nick_changed(c, frame) {
    const { store } = c;
    const { old, nick } = frame;
    if (!old || !nick) return;
    if (store.session && old === store.session.nick) {
      store.session.nick = nick;
      c.identity = { ...c.identity, nick };
      saveIdentity(c.identity);
      store.changed('session');
    }
    const { room } = store;
    if (room && (frame.room === undefined || String(frame.room) === room.id) && room.members.has(old)) {
      room.renameMember(old, nick);
      room.timeline.addNotice(`${old} is now known as ${nick}`);
      store.changed('members');
      store.changed('timeline');
    }
    store.renameDmPeer(old, nick);
    store.changed('dms');
  },

  shutdown(c, frame) {
    const reason = typeof frame.reason === 'string' && frame.reason ? ` (${frame.reason})` : '';
    c.showAlert(`The server is shutting down${reason}. We will reconnect when it is back.`, 'warn', 'shutdown');
  },

  pong() {},

  error(c, frame) {
    handleError(c, frame);
  },
};

function handleError(c, frame) {
  // Before `welcome` the only request on the socket is `hello`, so an error
  // without a known ref is about the nick.
  const context = c.requests.get(frame.ref)
    ?? (!c.online && c.identity ? { type: 'hello', reclaim: Boolean(c.identity.token) } : undefined);
  const message = typeof frame.message === 'string' && frame.message
    ? frame.message
    : `The server refused the request (${frame.code || 'error'}).`;
  const { store } = c;
  switch (context?.type) {
    case 'hello':
      // The nick is not ours: taken, invalid, or a reclaim that came too late.
      c.identity = null;
      c.online = false;
      c.connection.stop();
      clearIdentity();
      c.own.clear();
      c.resetChat();
      store.screen = 'nickname';
      store.changed('session');
      c.onIdentityLost(context.reclaim
        ? `You were away too long to keep your nickname: ${message}`
        : message, frame.code);
      return;
    case 'create_room':
      store.createError = message;
      store.changed('lobby');
      return;
    case 'send':
      if (store.room?.id === context.room && store.room.timeline.failPending(context.clientId, message)) {
        store.changed('timeline');
      }
      return;
    case 'dm': {
      const entry = store.thread(context.peer).pending.get(context.clientId);
      if (entry) {
        entry.status = 'failed';
        entry.error = message;
        store.changed('dms');
      }
      return;
    }
    case 'join':
      if (store.room?.id === context.room) {
        store.room = null;
        saveOpenRoom('');
        c.roomChanged();
      }
      c.showAlert(message, 'error');
      return;
    case 'history':
      if (store.room?.history === 'loading') store.room.history = 'more';
      store.changed('timeline');
      c.showAlert(message, 'error');
      return;
    case 'edit':
      if (store.room?.id === context.room) {
        store.room.edits.set(context.seq, {
          status: 'failed', text: context.text, error: message, final: isFinalEditError(frame.code),
        });
        store.changed('timeline');
      }
      return;
    case 'react':
      if (store.room?.id === context.room) {
        store.room.reactionErrors.set(context.seq, message);
        store.changed('timeline');
      }
      return;
    case 'typing':
      return;  // never worth interrupting the user for
    default:
      c.showAlert(message, 'error');
  }
}

export function socketClosed(c, { code, reason }) {
  c.online = false;
  c.typingActive = false;  // the server forgets it with the connection
  c.stopTyping();           // so only the timers are left to clear
  c.requests.clear();
  const { room } = c.store;
  if (room) {
    room.joined = false;
    room.typing.clear();
    if (room.history === 'loading') room.history = 'more';
    // A message the server will not take must not go out again after the
    // reconnect (it would be closed again, forever, with every later message
    // waiting behind it): it fails, and only the user may retry it.
    room.timeline.countCloseInFlight();
    if (code === 1009) {
      const bytes = room.timeline.failLargestInFlight(TOO_LARGE_CLOSED);
      if (bytes > 0) c.learnedMaxFrameBytes = Math.min(c.learnedMaxFrameBytes, bytes - 1);
    } else {
      // The same refusal often arrives as a plain drop: the server closes
      // before it has read the whole frame, and chromium reports 1006. A
      // message that was in flight at each of several drops is taken for the
      // cause. (No size is learned from that: it may have been the network.)
      room.timeline.failLargestInFlight(DROPPED_WHILE_SENDING, { minCloses: DROPS_BEFORE_GIVING_UP });
    }
    room.timeline.clearInFlight();
    // Its `edited` (or refusal) will not come on the next socket.
    for (const edit of room.edits.values()) {
      if (edit.status === 'saving') Object.assign(edit, { status: 'failed', error: EDIT_UNCONFIRMED, final: false });
    }
  }
  // A DM has no resume: tell the user rather than risk sending it twice.
  for (const thread of c.store.dms.values()) {
    for (const entry of thread.pending.values()) {
      if (entry.status === 'pending') {
        entry.status = 'failed';
        entry.error = 'Not confirmed before the connection dropped; it may not have been delivered.';
      }
    }
  }
  const explanation = closeMessage(code, reason);
  if (explanation) c.showAlert(explanation, 'error', 'close');
  c.roomChanged();
  c.store.changed('dms');
}

/** Where scroll-back stands after the timeline was (re)loaded from `joined`. */
function historyStateAfterReset(room) {
  const oldest = room.timeline.minSeq;
  return oldest === 0 || oldest === 1 ? 'start' : 'more';
}
