// The server's size limits as the client applies them before sending: text
// length in code points (docs/protocol.md, "Limits") and the size of the whole
// frame in UTF-8 bytes. Pure functions, no DOM, unit tested in node.
//
// Why the client checks at all: a frame over the server's limit closes the
// socket with 1009, and a message re-sent after every reconnect would close it
// again forever. What the server would refuse is refused here, visibly.

// The defaults of include/parley/limits.hpp, used while the server has not
// told us its own (before `welcome`, or a server that omits a field). A
// refusal the user can read beats a close they cannot.
export const DEFAULT_LIMITS = Object.freeze({
  maxTextChars: 2000, maxFrameBytes: 16 * 1024, editWindowSeconds: 900, maxEmojiBytes: 32, maxReactionsPerMessage: 20,
});

const encoder = new TextEncoder();

/**
 * Length as the server counts it: Unicode code points, so an emoji or a
 * Hangul syllable is one, whatever its UTF-16 or UTF-8 length.
 */
export function codePointCount(text) {
  let count = 0;
  // The string iterator walks code points (a lone surrogate counts as one).
  for (const _ of text) count += 1;
  return count;
}

/** Bytes of `frame` on the wire: its JSON, as UTF-8. */
export function frameByteLength(frame) {
  return encoder.encode(JSON.stringify(frame)).length;
}

/**
 * The limits to apply: `welcome.limits` where it gives a usable number, the
 * defaults elsewhere, and never more than `learnedMaxFrameBytes` (a bound the
 * server showed by closing with 1009 although its welcome allowed the frame).
 */
export function effectiveLimits(welcomeLimits = {}, learnedMaxFrameBytes = Infinity) {
  const pick = (value, fallback) => (Number.isInteger(value) && value > 0 ? value : fallback);
  return {
    maxTextChars: pick(welcomeLimits?.max_text_chars, DEFAULT_LIMITS.maxTextChars),
    maxFrameBytes: Math.min(pick(welcomeLimits?.max_frame_bytes, DEFAULT_LIMITS.maxFrameBytes), learnedMaxFrameBytes),
    editWindowSeconds: editWindowSeconds(welcomeLimits),
    maxEmojiBytes: pick(welcomeLimits?.max_emoji_bytes, DEFAULT_LIMITS.maxEmojiBytes),
    maxReactionsPerMessage: pick(welcomeLimits?.max_reactions_per_message, DEFAULT_LIMITS.maxReactionsPerMessage),
  };
}

// The edit window as `edit_window_seconds`, or as `edit_window_ms` (the unit
// of the welcome's other durations); 0 is a real answer: no edits at all.
function editWindowSeconds(welcomeLimits) {
  const usable = (value) => Number.isInteger(value) && value >= 0;
  if (usable(welcomeLimits?.edit_window_seconds)) return welcomeLimits.edit_window_seconds;
  if (usable(welcomeLimits?.edit_window_ms)) return welcomeLimits.edit_window_ms / 1000;
  return DEFAULT_LIMITS.editWindowSeconds;
}

/** Why `text` cannot be sent under `limits` (a sentence for people), or '' when it can. */
export function textProblem(text, limits) {
  const chars = codePointCount(text);
  if (chars <= limits.maxTextChars) return '';
  const over = chars - limits.maxTextChars;
  return `This message is ${formatCount(chars)} characters long; the limit is ${formatCount(limits.maxTextChars)}. `
    + `Remove ${formatCount(over)} ${over === 1 ? 'character' : 'characters'} to send it.`;
}

/** Why `frame` cannot be sent under `limits`, or '' when it fits. */
export function frameProblem(frame, limits) {
  const bytes = frameByteLength(frame);
  if (bytes <= limits.maxFrameBytes) return '';
  return `This message takes ${formatCount(bytes)} bytes once encoded; the server accepts at most `
    + `${formatCount(limits.maxFrameBytes)}. Shorten it (emoji and many scripts take several bytes per character).`;
}

export function formatCount(n) {
  return n.toLocaleString('en');
}
