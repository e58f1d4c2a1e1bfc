// The DOM of message editing: the inline editor that replaces a message's
// text while the user edits it, and the "(edited)" mark. What may be edited
// and what is sent is decided elsewhere (editing.js, controller.js); the room
// view decides when these are shown.

import { el, formatDateTime, formatTime } from './dom.js';

/** "(edited)", with when in its tooltip (and for screen readers, in words). */
export function editedMark(editedAt) {
  const when = formatDateTime(editedAt);
  return el('span', {
    class: 'message-edited',
    title: when ? `Edited ${when}` : 'Edited',
    dataset: { testid: 'message-edited' },
  }, [
    '(edited)',
    formatTime(editedAt) ? el('span', { class: 'visually-hidden', text: ` at ${formatTime(editedAt)}` }) : null,
  ]);
}

/**
 * The inline editor for one message. `draft` is the text to start from,
 * `problem` why it cannot be saved ('' if it can), `saving` whether the server
 * is still to confirm it. Enter saves (Shift+Enter is a new line, never while
 * an IME is composing), Escape cancels. `onInput(text)` returns the problem
 * to show for the new text, which is updated in place so that the textarea
 * keeps its focus, caret and undo history.
 */
export function messageEditor({ seq, draft, problem, saving, onInput, onSave, onCancel }) {
  const problemId = `edit-problem-${seq}`;
  const hintId = `edit-hint-${seq}`;
  const input = el('textarea', {
    class: 'message-edit-input',
    rows: Math.min(8, draft.split('\n').length),
    'aria-label': 'Edit your message',
    'aria-describedby': `${hintId} ${problemId}`,
    'aria-invalid': problem ? 'true' : 'false',
    disabled: saving,
    dataset: { testid: 'edit-input' },
  });
  input.value = draft;
  const problemText = el('p', {
    id: problemId, class: 'composer-problem', 'aria-live': 'polite', dataset: { testid: 'edit-problem' }, text: problem,
  });
  const save = () => onSave(input.value);
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      save();
    } else if (event.key === 'Escape') {
      event.preventDefault();
      onCancel();
    }
  });
  input.addEventListener('input', () => {
    const next = onInput(input.value);
    // Assigned only on change: the live region re-announces every assignment.
    if (problemText.textContent !== next) problemText.textContent = next;
    input.setAttribute('aria-invalid', next ? 'true' : 'false');
  });
  const form = el('form', { class: 'message-editor', dataset: { testid: 'message-editor' } }, [
    input,
    el('div', { class: 'message-actions' }, [
      el('button', { type: 'submit', class: 'button-small', disabled: saving, text: saving ? 'Saving…' : 'Save', dataset: { testid: 'edit-save' } }),
      el('button', { type: 'button', class: 'button-small button-quiet', text: 'Cancel', dataset: { testid: 'edit-cancel' }, on: { click: onCancel } }),
      el('span', { id: hintId, class: 'hint', text: 'Enter saves, Shift+Enter starts a new line, Escape cancels.' }),
    ]),
    problemText,
  ]);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    save();
  });
  return { form, input };
}
