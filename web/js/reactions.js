// Reactions on one message: the chips (emoji, count, whether one of them is
// ours), how a live `reaction` event and a copy of the message from
// `joined`/`history` change them, and what the picker may send. Pure data, no
// DOM, so the rules are unit tested in node.
//
// A chip is {emoji, count, mine, live}. `live` marks a chip last set by a
// `reaction` event: see mergeReactions for why that matters. A chip whose count
// fell to 0 by a live event is kept (hidden) for the same reason.

const encoder = new TextEncoder();

// The picker's quick choices; anything else goes through the text field.
export const COMMON_EMOJIS = Object.freeze(['👍', '❤️', '😂', '🎉', '😮', '😢']);

// White space or a control character anywhere: the server refuses the emoji.
const FORBIDDEN_IN_EMOJI = /[\s\p{Cc}]/u;

/** The chips of a message as the server lists them (`reactions` of a message object). */
export function reactionsFromServer(list) {
  if (!Array.isArray(list)) return [];
  const chips = [];
  for (const item of list) {
    if (!item || typeof item.emoji !== 'string' || !item.emoji) continue;
    if (!Number.isInteger(item.count) || item.count <= 0) continue;
    if (chips.some((chip) => chip.emoji === item.emoji)) continue;
    chips.push({ emoji: item.emoji, count: item.count, mine: item.mine === true, live: false });
  }
  return chips;
}

/** The chips to draw: those with someone behind them, in order of first use. */
export function visibleReactions(chips) {
  return chips.filter((chip) => chip.count > 0);
}

/** Whether `emoji` is one of ours on this message. */
export function isMine(chips, emoji) {
  return chips.some((chip) => chip.emoji === emoji && chip.count > 0 && chip.mine);
}

/**
 * A `reaction` event for this message: returns the new chips. `count` is the
 * server's total after the change, so it is taken as is (never added up, so a
 * repeated or reordered event cannot drift). The event changes `mine` only
 * when it is about `myNick` (our current nick: an event under our old nick
 * cannot arrive after the rename, the server sends in order).
 */
export function applyReaction(chips, event, myNick) {
  if (typeof event?.emoji !== 'string' || !event.emoji || !Number.isInteger(event.count)) return chips;
  const count = Math.max(0, event.count);
  const ours = Boolean(myNick) && event.nick === myNick;
  const next = chips.map((chip) => ({ ...chip }));
  let chip = next.find((c) => c.emoji === event.emoji);
  if (!chip) {
    chip = { emoji: event.emoji, count: 0, mine: false, live: true };
    next.push(chip);
  }
  chip.count = count;
  chip.live = true;
  if (ours) chip.mine = event.on === true;
  if (count === 0) chip.mine = false;
  return next;
}

/**
 * A copy of a message we already show (a history page, a gap fill, `joined`
 * after a resume) meets the chips we hold. The rule: a chip set by a live
 * event keeps its state; every other chip is taken from the copy, in the
 * copy's order (live-only chips after them).
 *
 * Why: a copy carries no version, and one read before a `reaction` event may
 * arrive after it (a page requested earlier, another node of a cluster). The
 * events are newer than anything we loaded before them, so a copy never undoes
 * one; for the emojis nobody touched live, the copy is the latest we know.
 * A room loaded afresh (a new `joined` without `since`, a reload) starts from
 * the server's copies alone.
 */
export function mergeReactions(held, copy) {
  const fromCopy = reactionsFromServer(copy);
  const live = new Map(held.filter((chip) => chip.live).map((chip) => [chip.emoji, chip]));
  const merged = fromCopy.map((chip) => (live.has(chip.emoji) ? { ...live.get(chip.emoji) } : chip));
  for (const chip of live.values()) {
    if (!merged.some((c) => c.emoji === chip.emoji)) merged.push({ ...chip });
  }
  return merged;
}

export function utf8Length(text) {
  return encoder.encode(text).length;
}

/**
 * Why adding `emoji` to a message with `chips` would be refused (a sentence
 * for people), or '' when it may be sent. `limits` as effectiveLimits gives
 * them. Removing one of ours is always allowed.
 */
export function reactionProblem(emoji, chips, limits) {
  if (typeof emoji !== 'string' || emoji === '') return 'Type an emoji to react with.';
  if (FORBIDDEN_IN_EMOJI.test(emoji)) return 'A reaction is one emoji, without spaces or line breaks.';
  const bytes = utf8Length(emoji);
  if (bytes > limits.maxEmojiBytes) {
    return `That reaction takes ${bytes} bytes; the server accepts at most ${limits.maxEmojiBytes}. Use a single emoji.`;
  }
  const shown = visibleReactions(chips);
  if (!shown.some((chip) => chip.emoji === emoji) && shown.length >= limits.maxReactionsPerMessage) {
    return `This message already has ${limits.maxReactionsPerMessage} different reactions; add to one of those instead.`;
  }
  return '';
}

/** "Reaction not saved." and the reason, as one sentence. */
export function reactionErrorText(error) {
  if (!error) return 'Reaction not saved.';
  const sentence = error[0].toUpperCase() + error.slice(1);
  return `Reaction not saved. ${/[.!?…]$/.test(sentence) ? sentence : `${sentence}.`}`;
}
