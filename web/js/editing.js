// Editing one's own messages: when the Edit action is offered, what may be
// saved, and which refusals end the attempt. Pure functions, no DOM, unit
// tested in node; the requests themselves go out through controller.js.

import { toMillis } from './dom.js';

// Refusals that trying again cannot fix: the editor closes and the reason
// stays beside the message. The others (text_empty, text_too_long, a dropped
// connection, rate_limited…) leave the editor open with the text to fix.
const FINAL_EDIT_ERRORS = new Set([
  'edit_expired', 'forbidden', 'not_found', 'not_in_room', 'unknown_type', 'not_supported',
]);

export function isFinalEditError(code) {
  return FINAL_EDIT_ERRORS.has(code);
}

/**
 * Until when (ms since the epoch) `entry` may be edited under a window of
 * `windowSeconds`, or 0 when it has no usable time.
 */
export function editDeadline(entry, windowSeconds) {
  const sentAt = toMillis(entry.ts);
  return sentAt ? sentAt + windowSeconds * 1000 : 0;
}

/**
 * Whether to offer Edit on timeline entry `entry`: a confirmed message (not
 * pending or failed: it has no seq yet), not deleted, ours, and inside the
 * edit window by our clock. (A clock behind the server's may offer it a little
 * too long; the server then answers edit_expired, which is shown.)
 */
export function canEdit(entry, { owns, windowSeconds, now = Date.now() }) {
  if (entry?.kind !== 'message' || entry.deleted || !owns(entry) || windowSeconds <= 0) return false;
  return now < editDeadline(entry, windowSeconds);
}

/**
 * Why `text` cannot replace `entry`'s text ('' when it can). The length
 * limits are the composer's (limits.js), checked by the caller on the frame.
 */
export function editTextProblem(text) {
  return text.trim() ? '' : 'A message cannot be empty. To remove it, delete it instead.';
}
