// The top bar: connection status, "Reconnect now", who we are, and the alert
// banner (server errors without a better place, close codes, shutdown).

import { byId } from './dom.js';

const LABELS = {
  idle: 'Not connected',
  connecting: 'Connecting…',
  online: 'Online',
  offline: 'Offline',
};

export function mountStatusView(store, connection, controller) {
  const status = byId('status');
  const statusText = byId('status-text');
  const reconnect = byId('reconnect');
  const whoami = byId('whoami');
  const whoamiNick = byId('whoami-nick');
  const alert = byId('alert');
  const alertText = byId('alert-text');
  let countdown = 0;

  reconnect.addEventListener('click', () => connection.reconnectNow());
  byId('sign-out').addEventListener('click', () => controller.signOut());
  byId('alert-dismiss').addEventListener('click', () => controller.dismissAlert());

  function renderStatus() {
    clearInterval(countdown);
    const { state } = connection.status;
    status.dataset.state = state;
    if (state === 'reconnecting') {
      // Tick once a second so "in 3 s" counts down.
      const tick = () => {
        const seconds = Math.max(1, Math.ceil((connection.status.retryAt - Date.now()) / 1000));
        statusText.textContent = `Reconnecting in ${seconds} s`;
      };
      tick();
      countdown = setInterval(tick, 1000);
    } else {
      statusText.textContent = LABELS[state] ?? state;
    }
    // Offering a manual retry only makes sense when we want to be connected.
    reconnect.hidden = !(state === 'reconnecting' || (state === 'offline' && store.screen === 'chat'));
  }

  function renderSession() {
    whoami.hidden = !store.session;
    whoamiNick.textContent = store.session?.nick ?? '';
    renderStatus();
  }

  function renderAlert() {
    alert.hidden = !store.alert;
    alert.dataset.tone = store.alert?.tone ?? '';
    alertText.textContent = store.alert?.text ?? '';
  }

  connection.addEventListener('status', renderStatus);
  store.on('session', renderSession);
  store.on('alert', renderAlert);
  renderSession();
  renderAlert();
}
