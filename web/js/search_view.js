// Search in the open room: a form in the room header and a results list that
// pages with "More results". Results come over HTTP (api.js), not the socket,
// so a search never queues behind chat traffic.

import { searchRoom } from './api.js';
import { byId, el, formatTime, isoTime } from './dom.js';
import { editedMark } from './message_editor.js';

const PAGE = 20;

export function mountSearchView(store, { search = searchRoom } = {}) {
  const form = byId('search-form');
  const input = byId('search-input');
  const panel = byId('search-results');
  const list = byId('search-list');
  const status = byId('search-status');
  const more = byId('search-more');

  // The search on screen: its room, words and how many results are shown.
  let current = null;
  let generation = 0;  // a newer search or a room change makes older answers stale

  function close() {
    generation++;
    current = null;
    panel.hidden = true;
    list.replaceChildren();
    status.textContent = '';
    more.hidden = true;
  }

  async function run(offset) {
    const mine = ++generation;
    const { roomId, q } = current;
    status.textContent = 'Searching…';
    more.hidden = true;
    const result = await search(roomId, q, { offset, limit: PAGE });
    if (mine !== generation) return;
    if (result.error) {
      status.textContent = result.error;
      return;
    }
    for (const message of result.messages) list.append(resultItem(message));
    current.shown = offset + result.messages.length;
    status.textContent = current.shown === 0
      ? `No messages match “${q}”.`
      : `${current.shown} ${current.shown === 1 ? 'message matches' : 'messages match'} “${q}”${result.more ? ' (more below)' : ''}.`;
    more.hidden = !result.more;
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const q = input.value.trim();
    if (!q || !store.room) return close();
    current = { roomId: store.room.wireId, q, shown: 0 };
    list.replaceChildren();
    panel.hidden = false;
    run(0);
  });
  more.addEventListener('click', () => { if (current) run(current.shown); });
  byId('search-close').addEventListener('click', () => {
    input.value = '';
    close();
  });

  // Results belong to one room: switching rooms clears them.
  let shownRoom = store.room;
  store.on('room', () => {
    if (store.room !== shownRoom) {
      shownRoom = store.room;
      input.value = '';
      close();
    }
  });
  close();
}

function resultItem(message) {
  const ts = Number(message.ts);
  return el('li', { class: 'search-result', dataset: { testid: 'search-result', seq: String(message.seq) } }, [
    el('div', { class: 'message-meta' }, [
      el('span', { class: 'message-from', text: message.from }),
      el('time', { datetime: isoTime(ts), text: formatTime(ts) }),
      // Results carry the latest text; edited_at says it is not the first one.
      Number.isFinite(message.edited_at) && message.edited_at > 0 ? editedMark(message.edited_at) : null,
    ]),
    el('p', { class: 'message-text', text: message.text, dataset: { testid: 'search-result-text' } }),
  ]);
}
