// Entry point: builds the state, the connection and the controller, mounts
// the views, and switches between the nickname screen and the chat.

import { watchLobbyEvents } from './api.js';
import { Connection, socketUrl } from './connection.js';
import { Controller } from './controller.js';
import { byId } from './dom.js';
import { mountDmView } from './dm_view.js';
import { mountLobbyView } from './lobby_view.js';
import { mountNicknameView } from './nickname_view.js';
import { mountRoomView } from './room_view.js';
import { mountSearchView } from './search_view.js';
import { Store, loadIdentity } from './state.js';
import { mountStatusView } from './status_view.js';

const store = new Store();
const connection = new Connection(socketUrl());
let nicknameView = null;
const controller = new Controller(store, connection, {
  onIdentityLost: (message) => nicknameView?.showError(message),
});

nicknameView = mountNicknameView(store, controller);
mountStatusView(store, connection, controller);
mountLobbyView(store, controller);
mountRoomView(store, controller);
mountDmView(store, controller);
mountSearchView(store);

// The lobby comes over SSE until we have a WebSocket identity (nobody can
// `watch_lobby` before `hello`), then over the socket: one feed at a time.
let stopLobbyEvents = null;
function syncLobbyFeed() {
  const wantSse = !store.session;
  if (wantSse && !stopLobbyEvents) {
    stopLobbyEvents = watchLobbyEvents({
      onRooms: (rooms) => { store.setLobby(rooms); store.changed('lobby'); },
      onRoomUpdate: (room) => { store.updateLobbyRoom(room); store.changed('lobby'); },
      onRoomRemoved: (id) => { store.lobby.delete(id); store.changed('lobby'); },
    });
  } else if (!wantSse && stopLobbyEvents) {
    stopLobbyEvents();
    stopLobbyEvents = null;
  }
}

const nicknameScreen = byId('nickname-screen');
const chatScreen = byId('chat-screen');
let shownScreen = '';
function syncScreen() {
  const { screen } = store;
  nicknameScreen.hidden = screen !== 'nickname';
  chatScreen.hidden = screen !== 'chat';
  if (screen !== shownScreen) {
    shownScreen = screen;
    if (screen === 'nickname') nicknameView.focus();
  }
}

store.on('session', () => {
  syncScreen();
  syncLobbyFeed();
});

const identity = loadIdentity();
if (identity) controller.resume(identity);
syncScreen();
syncLobbyFeed();
