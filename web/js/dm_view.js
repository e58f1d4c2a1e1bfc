// Direct messages: one thread per nick. A thread opens from the member list
// (or the thread list) and shows confirmed `dm` events plus our own sends
// still waiting for their echo.

import { byId, el, formatTime, isoTime } from './dom.js';

export function mountDmView(store, controller) {
  const threads = byId('dm-threads');
  const empty = byId('dm-empty');
  const open = byId('dm-open');
  const peerTitle = byId('dm-peer');
  const list = byId('dm-messages');
  const form = byId('dm-form');
  const input = byId('dm-input');
  const inputLabel = byId('dm-input-label');
  let shownPeer = null;

  byId('dm-close').addEventListener('click', () => controller.closeDm());
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!store.dmOpen || !input.value.trim()) return;
    const problem = controller.sendDm(store.dmOpen, input.value);
    // Refused: nothing was sent; the browser shows why beside the field (and
    // blocks the next submit until the text changes), the text stays.
    input.setCustomValidity(problem);
    if (problem) {
      input.reportValidity();
      return;
    }
    input.value = '';
  });
  input.addEventListener('input', () => input.setCustomValidity(''));

  function render() {
    const me = store.session?.nick ?? '';
    const peers = [...store.dms.keys()].sort((a, b) => a.localeCompare(b));
    threads.replaceChildren(...peers.map((peer) => {
      const { unread } = store.dms.get(peer);
      const label = unread ? `${peer}, ${unread} unread` : peer;
      return el('li', {}, [
        el('button', {
          type: 'button',
          class: 'dm-thread-button',
          'aria-label': `Conversation with ${label}`,
          'aria-current': store.dmOpen === peer ? 'true' : null,
          dataset: { testid: 'dm-thread', peer },
          on: { click: () => controller.openDm(peer) },
        }, [
          el('span', { text: peer }),
          unread ? el('span', { class: 'count badge', text: String(unread) }) : null,
        ]),
      ]);
    }));
    empty.hidden = peers.length > 0;

    const peer = store.dmOpen;
    open.hidden = !peer;
    if (!peer) {
      shownPeer = null;
      return;
    }
    const thread = store.thread(peer);
    peerTitle.textContent = `With ${peer}`;
    inputLabel.textContent = `Direct message to ${peer}`;
    const items = thread.messages.map((dm) => dmNode(dm, dm.from === me, 'sent'));
    for (const entry of thread.pending.values()) {
      items.push(dmNode({ from: me, text: entry.text, ts: null }, true, entry.status, entry, peer));
    }
    list.replaceChildren(...items);
    list.scrollTop = list.scrollHeight;
    if (peer !== shownPeer) {
      shownPeer = peer;
      input.focus();
    }
  }

  function dmNode(dm, own, state, pending, peer) {
    const li = el('li', { class: `message${own ? ' own' : ''}`, dataset: { testid: 'dm-message', state, from: dm.from } }, [
      el('p', { class: 'message-meta' }, [
        el('span', { class: 'message-from', text: own ? 'you' : dm.from }),
        ' ',
        el('time', { datetime: isoTime(dm.ts) || null, text: formatTime(dm.ts) }),
        state === 'pending' ? el('span', { class: 'message-state', text: 'sending…' }) : null,
      ]),
      el('p', { class: 'message-text', dataset: { testid: 'message-text' }, text: dm.text }),
    ]);
    if (state === 'failed') {
      li.append(
        el('p', { class: 'message-error', text: pending.error }),
        el('div', { class: 'message-actions' }, [
          el('button', { type: 'button', class: 'button-small', text: 'Retry', on: { click: () => controller.retryDm(peer, pending.clientId) } }),
          el('button', { type: 'button', class: 'button-small button-quiet', text: 'Discard', on: { click: () => controller.discardDm(peer, pending.clientId) } }),
        ]),
      );
    }
    return li;
  }

  store.on('dms', render);
  store.on('session', render);
  render();
}
