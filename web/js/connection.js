// The WebSocket to /ws and its reconnect policy. Knows nothing about chat:
// it moves JSON objects and reports its status; controller.js speaks the
// protocol on top.
//
// Status values (shown to the user by main.js):
//   idle          never started (nickname screen)
//   connecting    socket opening, or open and waiting for `welcome`
//   online        `welcome` received (controller calls confirmOnline())
//   reconnecting  waiting `retryAt` before the next try
//   offline       not trying: stopped, the browser is offline, or the server
//                 closed in a way where retrying would not help (see shouldRetry)

export const BACKOFF = Object.freeze({ initialMs: 500, maxMs: 10_000 });

// A silent connection may be half-open (laptop slept, NAT dropped it): the
// browser would not notice for minutes. Ask for a `pong` after this much quiet...
const HEARTBEAT_IDLE_MS = 25_000;
// ...and give up on the socket if nothing at all arrives within this long.
const HEARTBEAT_TIMEOUT_MS = 10_000;

// Our own close code when we drop a socket to reconnect. Not 1000: the server
// frees the nickname at once on a clean 1000 close (docs/protocol.md), and we
// want it kept for our token.
const CLOSE_RECONNECTING = 4000;

/**
 * Whether to reconnect on our own after the server closed with `code`.
 * 1008 (abuse, or no hello in time): retrying would look like more abuse.
 * 1000 "replaced by a new connection": the same identity connected elsewhere
 * (a duplicated tab shares our sessionStorage token); fighting over it would
 * make the two tabs replace each other forever.
 */
export function shouldRetry(code, reason = '') {
  if (code === 1008) return false;
  if (code === 1000 && /replaced/i.test(reason)) return false;
  return true;
}

/**
 * Delay before reconnect attempt `attempt` (0-based): doubling from
 * `initialMs` to `maxMs`, with "equal jitter" (half fixed, half random) so that
 * after a server restart the clients do not all come back in the same instant,
 * yet nobody retries immediately.
 */
export function backoffDelay(attempt, random = Math.random, policy = BACKOFF) {
  const ceiling = Math.min(policy.maxMs, policy.initialMs * 2 ** attempt);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** ws: or wss: to match the page, on the page's own host (the CSP allows only 'self'). */
export function socketUrl(location = globalThis.location) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws`;
}

export class Connection extends EventTarget {
  constructor(url, { WebSocketImpl = globalThis.WebSocket } = {}) {
    super();
    this.url = url;
    this.WebSocketImpl = WebSocketImpl;
    this.socket = null;
    this.wanted = false;       // whether we should be connected at all
    this.attempt = 0;          // failed tries since the last `welcome`
    this.retryTimer = 0;
    this.retryAt = 0;
    this.heartbeatTimer = 0;
    this.state = 'idle';
    this.lastClose = null;     // {code, reason} of the last unexpected close
    globalThis.addEventListener?.('online', () => {
      if (this.wanted && this.state === 'offline') this.reconnectNow();
    });
  }

  /** Starts connecting (no-op while already connecting or connected). */
  start() {
    this.wanted = true;
    if (this.socket) return;
    this.open();
  }

  /**
   * Closes on purpose: no reconnect until start() or reconnectNow(). A clean
   * 1000 close, so the server frees our nickname at once (sign out).
   */
  stop() {
    this.wanted = false;
    clearTimeout(this.retryTimer);
    this.dropSocket(1000, 'client closed');
    this.setState('offline');
  }

  /** Skips the remaining backoff wait (the "Reconnect now" button, network back). */
  reconnectNow() {
    this.wanted = true;
    clearTimeout(this.retryTimer);
    this.dropSocket(CLOSE_RECONNECTING, 'reconnecting');
    this.open();
  }

  /** Called once the server has accepted our identity; resets the backoff. */
  confirmOnline() {
    this.attempt = 0;
    this.lastClose = null;
    this.setState('online');
  }

  /** Sends one object; returns false (and sends nothing) while not connected. */
  send(frame) {
    if (!this.socket || this.socket.readyState !== 1) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  get status() {
    return { state: this.state, retryAt: this.retryAt, attempt: this.attempt, lastClose: this.lastClose };
  }

  // --- internals ----------------------------------------------------------

  open() {
    this.setState('connecting');
    let socket;
    try {
      socket = new this.WebSocketImpl(this.url);
    } catch (error) {
      this.onClosed({ code: 1006, reason: String(error) });
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      this.armHeartbeat();
      this.dispatchEvent(new Event('open'));
    };
    socket.onmessage = (event) => {
      this.armHeartbeat();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        console.warn('parley: ignoring a frame that is not JSON');
        return;
      }
      if (frame && typeof frame.type === 'string') {
        this.dispatchEvent(new CustomEvent('frame', { detail: frame }));
      }
    };
    socket.onclose = (event) => {
      if (socket !== this.socket) return;
      this.socket = null;
      this.onClosed({ code: event.code, reason: event.reason });
    };
  }

  onClosed({ code, reason }) {
    clearTimeout(this.heartbeatTimer);
    this.dispatchEvent(new CustomEvent('close', { detail: { code, reason } }));
    if (!this.wanted) {
      this.setState('offline');
      return;
    }
    this.lastClose = { code, reason };
    if (!shouldRetry(code, reason)) {
      this.wanted = false;
      this.setState('offline');
      return;
    }
    if (globalThis.navigator?.onLine === false) {
      // The 'online' listener in the constructor picks it up again.
      this.setState('offline');
      return;
    }
    const delay = backoffDelay(this.attempt);
    this.attempt += 1;
    this.retryAt = Date.now() + delay;
    this.retryTimer = setTimeout(() => this.open(), delay);
    this.setState('reconnecting');
  }

  armHeartbeat() {
    clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = setTimeout(() => {
      this.send({ type: 'ping' });
      this.heartbeatTimer = setTimeout(() => {
        // Do not wait for a closing handshake the dead peer will never answer.
        this.dropSocket(CLOSE_RECONNECTING, 'heartbeat timeout');
        this.onClosed({ code: CLOSE_RECONNECTING, reason: 'no answer from the server' });
      }, HEARTBEAT_TIMEOUT_MS);
    }, HEARTBEAT_IDLE_MS);
  }

  /** Detaches and closes the current socket without reporting its close. */
  dropSocket(code, reason) {
    clearTimeout(this.heartbeatTimer);
    const socket = this.socket;
    this.socket = null;
    if (!socket) return;
    socket.onopen = socket.onmessage = socket.onclose = null;
    try {
      socket.close(code, reason);
    } catch {
      // Already closed or closing: nothing left to release.
    }
  }

  setState(state) {
    if (state !== 'reconnecting') this.retryAt = 0;
    this.state = state;
    this.dispatchEvent(new CustomEvent('status', { detail: this.status }));
  }
}
