// The reactions under a message: one chip per emoji (emoji and count,
// pressed when one of them is ours; a click adds or takes away ours), the
// "add reaction" button and its small picker (common emojis and a field for
// any other), and why the last reaction was refused. User text (the emojis
// others chose) only ever goes through textContent.

import { el } from './dom.js';
import { COMMON_EMOJIS, isMine, visibleReactions } from './reactions.js';

/**
 * Builds the row. `picker` is null when the picker of this message is closed,
 * else {draft, problem}. Callbacks: onToggle(emoji), onOpenPicker(),
 * onClosePicker(), onDraft(text) -> problem, onSubmit(text).
 * Returns {row, input}: `input` is the picker's text field, if open.
 */
export function reactionBar({ chips, picker, error, onToggle, onOpenPicker, onClosePicker, onDraft, onSubmit }) {
  const row = el('div', { class: 'reactions', dataset: { testid: 'reactions' } });
  for (const chip of visibleReactions(chips)) {
    const people = chip.count === 1 ? '1 reaction' : `${chip.count} reactions`;
    row.append(el('button', {
      type: 'button',
      class: 'reaction-chip',
      'aria-pressed': chip.mine ? 'true' : 'false',
      'aria-label': chip.mine ? `${chip.emoji}: ${people}, yours included. Take yours away` : `${chip.emoji}: ${people}. Add yours`,
      dataset: { testid: 'reaction', emoji: chip.emoji, mine: chip.mine ? 'true' : 'false' },
      on: { click: () => onToggle(chip.emoji) },
    }, [
      el('span', { class: 'reaction-emoji', text: chip.emoji }),
      el('span', { class: 'reaction-count', dataset: { testid: 'reaction-count' }, text: String(chip.count) }),
    ]));
  }
  row.append(el('button', {
    type: 'button',
    class: 'button-small button-quiet reaction-add',
    text: '+☺',
    title: 'Add a reaction',
    'aria-label': 'Add a reaction',
    'aria-expanded': picker ? 'true' : 'false',
    dataset: { testid: 'add-reaction' },
    on: { click: () => (picker ? onClosePicker() : onOpenPicker()) },
  }));
  let input = null;
  const parts = [row];
  if (picker) {
    const problem = el('p', { class: 'field-error', 'aria-live': 'polite', dataset: { testid: 'reaction-problem' }, text: picker.problem });
    input = el('input', {
      type: 'text',
      class: 'reaction-input',
      value: picker.draft,
      placeholder: 'any emoji',
      autocomplete: 'off',
      'aria-label': 'Any emoji',
      dataset: { testid: 'reaction-input' },
      on: {
        input: () => { problem.textContent = onDraft(input.value); },
        keydown: (event) => {
          if (event.key === 'Escape') {
            event.preventDefault();
            onClosePicker();
          }
        },
      },
    });
    const form = el('form', { class: 'reaction-form', on: { submit: (event) => { event.preventDefault(); onSubmit(input.value); } } }, [
      input,
      el('button', { type: 'submit', class: 'button-small', text: 'Add', dataset: { testid: 'reaction-submit' } }),
    ]);
    parts.push(el('div', { class: 'reaction-picker', role: 'group', 'aria-label': 'Add a reaction', dataset: { testid: 'reaction-picker' } }, [
      el('div', { class: 'reaction-choices' }, COMMON_EMOJIS.map((emoji) => el('button', {
        type: 'button',
        class: 'reaction-choice',
        text: emoji,
        'aria-pressed': isMine(chips, emoji) ? 'true' : 'false',
        dataset: { testid: 'reaction-choice', emoji },
        on: { click: () => onSubmit(emoji) },
      }))),
      form,
      problem,
    ]));
  }
  if (error) parts.push(el('p', { class: 'message-error', role: 'status', dataset: { testid: 'reaction-error' }, text: error }));
  return { parts, input };
}
