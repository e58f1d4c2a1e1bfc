// The lobby: rooms with live member counts (a read-only preview on the
// nickname screen, buttons to open a room once signed in) and the create-room
// form. Both lists draw `store.lobby`, whichever feed (SSE or WebSocket) fills it.

import { byId, el, reconcileChildren } from './dom.js';

export function mountLobbyView(store, controller) {
  const list = byId('room-list');
  const empty = byId('room-list-empty');
  const preview = byId('preview-rooms');
  const previewEmpty = byId('preview-empty');
  const form = byId('create-room-form');
  const input = byId('create-room-input');
  const error = byId('create-room-error');
  const buttons = new Map();   // room id -> <li>, reused so focus survives updates
  let shownCreateError = '';   // the store's error last put on screen

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const name = input.value.trim();
    if (!name) {
      showError('Please enter a room name.');
      return;
    }
    controller.createRoom(name);
  });
  input.addEventListener('input', () => showError(''));

  function showError(text) {
    error.textContent = text;
    input.setAttribute('aria-invalid', text ? 'true' : 'false');
  }

  function roomItem(room) {
    let item = buttons.get(room.id);
    if (!item) {
      const name = el('span', { class: 'room-name' });
      const count = el('span', { class: 'count' });
      const button = el('button', {
        type: 'button',
        class: 'room-button',
        dataset: { testid: 'room-item', roomId: room.id },
        on: { click: () => controller.openRoom(room.id) },
      }, [name, count]);
      item = el('li', {}, [button]);
      item.parts = { button, name, count };
      buttons.set(room.id, item);
    }
    const { button, name, count } = item.parts;
    const open = store.room?.id === room.id;
    name.textContent = room.name;
    count.textContent = String(room.members);
    button.dataset.roomName = room.name;
    button.dataset.members = String(room.members);
    button.setAttribute('aria-label', `${room.name}, ${memberText(room.members)}${open ? ', open' : ''}`);
    if (open) button.setAttribute('aria-current', 'true');
    else button.removeAttribute('aria-current');
    return item;
  }

  function previewItem(room) {
    return el('li', { class: 'room-preview', dataset: { testid: 'preview-room', roomName: room.name } }, [
      el('span', { class: 'room-name', text: room.name }),
      el('span', { class: 'count', text: String(room.members), 'aria-label': memberText(room.members) }),
    ]);
  }

  function render() {
    const rooms = store.lobbyRooms();
    for (const id of buttons.keys()) if (!store.lobby.has(id)) buttons.delete(id);
    reconcileChildren(list, rooms.map(roomItem));
    empty.hidden = rooms.length > 0 || !store.lobbyLoaded;
    // Lets tests (and styles) tell "no rooms" from "not loaded yet".
    list.dataset.loaded = String(store.lobbyLoaded);
    preview.replaceChildren(...rooms.map(previewItem));
    previewEmpty.hidden = rooms.length > 0 || !store.lobbyLoaded;
    // Only a new error is shown: one the user typed past stays cleared.
    if (store.createError !== shownCreateError) {
      shownCreateError = store.createError;
      showError(store.createError);
    }
  }

  store.on('lobby', render);
  store.on('room', () => {
    render();
    // The room we asked to create is open: the form has done its job.
    if (store.room && store.lobby.get(store.room.id)?.name === input.value.trim()) input.value = '';
  });
  render();
}

function memberText(n) {
  return n === 1 ? '1 member' : `${n} members`;
}
