// Tiny DOM helpers shared by the views.
//
// User-supplied text only ever reaches the page through `textContent` (see `el`'s
// `text` option): no innerHTML anywhere, so a nickname or message can never
// become markup. The server's CSP (default-src 'self') would block injected
// scripts anyway; this keeps injected *markup* out too.

/**
 * Creates an element. `attrs` may hold:
 *   text: string set with textContent,
 *   class: class name(s), dataset: {key: value}, on: {event: handler},
 *   anything else: set as an attribute (false/null/undefined skip it).
 */
export function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'text') node.textContent = String(value);
    else if (key === 'class') node.className = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key === 'on') {
      for (const [event, handler] of Object.entries(value)) node.addEventListener(event, handler);
    } else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

/** Looks up an element by id and fails loudly if index.html and the code disagree. */
export function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`index.html has no element #${id}`);
  return node;
}

/**
 * Makes `parent`'s children exactly `nodes`, in order, moving only the nodes
 * that are out of place. Untouched nodes keep focus and text selection, which a
 * plain replaceChildren() would drop on every incoming message.
 */
export function reconcileChildren(parent, nodes) {
  let cursor = parent.firstChild;
  for (const node of nodes) {
    if (node === cursor) {
      cursor = cursor.nextSibling;
    } else {
      parent.insertBefore(node, cursor);
    }
  }
  while (cursor) {
    const next = cursor.nextSibling;
    parent.removeChild(cursor);
    cursor = next;
  }
}

/** Formats a server timestamp for display; see `toDate` for accepted forms. */
export function formatTime(ts) {
  const date = toDate(ts);
  if (!date) return '';
  return date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** Date and time of a server timestamp, for a tooltip; '' when unusable. */
export function formatDateTime(ts) {
  const date = toDate(ts);
  if (!date) return '';
  return date.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
}

/** ISO string for <time datetime>, or '' when the timestamp is unusable. */
export function isoTime(ts) {
  const date = toDate(ts);
  return date ? date.toISOString() : '';
}

/** A server timestamp as ms since the epoch, or 0 when it is unusable. */
export function toMillis(ts) {
  return toDate(ts)?.getTime() || 0;
}

// The protocol says `ts` but not its unit. Milliseconds since the epoch is what
// we ask the server for; seconds and ISO strings are accepted so that a
// different choice shows the right time instead of 1970.
function toDate(ts) {
  if (typeof ts === 'number' && Number.isFinite(ts)) {
    return new Date(ts < 1e11 ? ts * 1000 : ts);
  }
  if (typeof ts === 'string' && ts) {
    const parsed = Date.parse(ts);
    return Number.isNaN(parsed) ? null : new Date(parsed);
  }
  return null;
}
