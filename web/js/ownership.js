// Which messages in a room are ours, for the actions only their author may
// take (edit).
//
// The server decides authorship by the identity's resume token, which survives
// a nick change, a reload and a reclaim. A nickname proves nothing: after we
// rename, someone else may take our old name (their messages then carry it),
// and the name we take may have been someone else's (their old messages carry
// it). What this tab does know for sure is the `client_id` of every message it
// sent under its token: the server keeps it and gives it back in `message`,
// `joined` and `history`. So a message is ours exactly when its client_id is
// one we sent. The record lives in sessionStorage beside the token (the token
// is per tab too), so a reload keeps it, and it goes when the token does.

import { STORAGE_KEYS } from './state.js';

// Client ids remembered, newest kept. Only messages within the edit window
// (900 s by default) can be edited, so this covers far more than anyone sends
// in that time; the oldest fall out first.
export const MAX_REMEMBERED_SENDS = 500;

export class OwnMessages {
  constructor(storage = globalThis.sessionStorage) {
    this.storage = storage;
    this.clientIds = new Set(readIds(storage));
  }

  /** Records a client_id we are about to send under the current token. */
  add(clientId) {
    if (!clientId || this.clientIds.has(clientId)) return;
    this.clientIds.add(clientId);
    while (this.clientIds.size > MAX_REMEMBERED_SENDS) this.clientIds.delete(this.clientIds.values().next().value);
    this.storage?.setItem(STORAGE_KEYS.sent, JSON.stringify([...this.clientIds]));
  }

  /** Whether timeline entry `entry` (a confirmed message) was sent by us. */
  owns(entry) {
    return entry?.kind === 'message' && Boolean(entry.clientId) && this.clientIds.has(entry.clientId);
  }

  /** A new identity (a new token): nothing sent so far is ours any more. */
  clear() {
    this.clientIds.clear();
    this.storage?.removeItem(STORAGE_KEYS.sent);
  }
}

function readIds(storage) {
  try {
    const ids = JSON.parse(storage?.getItem(STORAGE_KEYS.sent) || '[]');
    return Array.isArray(ids) ? ids.filter((id) => typeof id === 'string') : [];
  } catch {
    return [];
  }
}
