// The example server's HTTP side: the nickname check and the lobby's
// Server-Sent Events feed, both used before we have a WebSocket identity.

/**
 * Asks whether `nick` is free. Resolves to {available, message}; `available`
 * is null when the server could not say (offline, old server): the caller
 * then lets `hello` decide, since the server is the authority anyway.
 */
export async function checkNickname(nick, fetchImpl = globalThis.fetch) {
  let response;
  try {
    response = await fetchImpl(`/api/nicknames/${encodeURIComponent(nick)}`, {
      headers: { Accept: 'application/json' },
    });
  } catch {
    return { available: null, message: '' };
  }
  const body = await response.json().catch(() => null);
  if (response.ok && body && typeof body.available === 'boolean') {
    return { available: body.available, message: '' };
  }
  // API errors look like {"error": {"code", "message"}}, e.g. nick_invalid (400).
  const error = body && body.error;
  if (error && typeof error.message === 'string') {
    return { available: false, code: error.code, message: error.message };
  }
  return { available: null, message: '' };
}

/**
 * Follows GET /api/lobby/events. The event names and JSON payloads match the
 * WebSocket lobby feed: `rooms` {rooms:[..]}, `room_update` {room},
 * `room_removed` {id}. EventSource reconnects on its own. Returns a function
 * that stops the feed.
 */
export function watchLobbyEvents({ onRooms, onRoomUpdate, onRoomRemoved }) {
  if (typeof EventSource !== 'function') return () => {};
  const source = new EventSource('/api/lobby/events');
  const parse = (event) => {
    try {
      return JSON.parse(event.data);
    } catch {
      return null;
    }
  };
  source.addEventListener('rooms', (event) => {
    const data = parse(event);
    // Tolerate a bare array as well as {rooms:[..]}.
    const rooms = Array.isArray(data) ? data : data?.rooms;
    if (Array.isArray(rooms)) onRooms(rooms);
  });
  source.addEventListener('room_update', (event) => {
    const data = parse(event);
    if (data?.room) onRoomUpdate(data.room);
  });
  source.addEventListener('room_removed', (event) => {
    const data = parse(event);
    if (data && data.id !== undefined) onRoomRemoved(String(data.id));
  });
  return () => source.close();
}

/**
 * Full-text search in one room: GET /api/rooms/{id}/messages?q=&limit=&offset=.
 * Resolves to {messages, more} (best match first), or {error} with a message
 * a person can read: the server's own for a 4xx/5xx, or a network one.
 */
export async function searchRoom(roomId, q, { offset = 0, limit = 20 } = {}, fetchImpl = globalThis.fetch) {
  const query = new URLSearchParams({ q, limit: String(limit), offset: String(offset) });
  let response;
  try {
    response = await fetchImpl(`/api/rooms/${encodeURIComponent(roomId)}/messages?${query}`, {
      headers: { Accept: 'application/json' },
    });
  } catch {
    return { error: 'Search is unavailable: the server cannot be reached.' };
  }
  const body = await response.json().catch(() => null);
  if (response.ok && body && Array.isArray(body.messages)) {
    return { messages: body.messages, more: body.more === true };
  }
  const message = body?.error?.message;
  return { error: typeof message === 'string' && message ? message : `Search failed (HTTP ${response.status}).` };
}
