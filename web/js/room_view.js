// The open room: title, message timeline with scroll-back, join/leave notices,
// editing one's own messages in place, reactions, "x is typing…", the
// composer and the member list.

import { byId, el, formatTime, isoTime, reconcileChildren } from './dom.js';
import { editDeadline } from './editing.js';
import { formatCount } from './limits.js';
import { editedMark, messageEditor } from './message_editor.js';
import { reactionBar } from './reaction_bar.js';
import { reactionErrorText } from './reactions.js';

// Within this many pixels of an edge counts as "at" it: at the bottom we
// follow new messages, at the top we fetch older ones.
const EDGE_PX = 48;

// The counter turns to a warning at this share of the length limit.
const NEAR_LIMIT = 0.9;

const HISTORY_TEXT = {
  start: 'This is the beginning of the room.',
  trimmed: 'Older messages are no longer available.',
};

export function mountRoomView(store, controller) {
  const screen = byId('chat-screen');
  const placeholder = byId('room-placeholder');
  const open = byId('room-open');
  const title = byId('room-title');
  const timeline = byId('timeline');
  const list = byId('messages');
  const loadOlder = byId('load-older');
  const historyState = byId('history-state');
  const typing = byId('typing');
  const form = byId('composer');
  const input = byId('composer-input');
  const problemText = byId('composer-problem');
  const counter = byId('composer-count');
  const memberList = byId('member-list');
  const memberCount = byId('member-count');

  let shownRoom = null;        // RoomState whose timeline `nodes` belongs to
  let nodes = new Map();       // entry key -> {li, signature}
  let typingTimer = 0;
  let stickToBottom = true;    // follow new messages unless the user scrolled up
  // The message being edited: {seq, draft, problem, sent, version}; `sent`
  // once Save went out, so that its confirmation (or a final refusal) closes
  // the editor. Typing updates draft and problem in place; `version` counts
  // the changes that rebuild the editor (a save), so typing never does.
  let editing = null;
  let editorInput = null;      // its textarea, to focus when it is (re)built
  let focusAfterRender = null; // what gets the focus once the list is drawn
  let editExpiryTimer = 0;     // redraws when the next Edit action expires
  // The open reaction picker: {seq, draft, problem}; one at a time.
  let picker = null;
  let pickerInput = null;      // its text field, to keep the focus when rebuilt
  // A reaction refused here before sending (offline, too many): {seq, text}.
  let localReactionProblem = null;

  byId('leave-room').addEventListener('click', () => controller.leaveRoom());
  loadOlder.addEventListener('click', () => controller.loadOlder());
  timeline.addEventListener('scroll', () => {
    stickToBottom = timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < EDGE_PX;
    // Not when the scroll came from tabbing onto "Load older messages": the
    // keyboard user should decide, and keep their focus where it is.
    if (timeline.scrollTop < EDGE_PX && document.activeElement !== loadOlder) controller.loadOlder();
  }, { passive: true });

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    send();
  });
  input.addEventListener('keydown', (event) => {
    // Enter sends; Shift+Enter is a new line; never while an IME is composing.
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  input.addEventListener('input', () => {
    renderComposer();
    controller.composerInput(input.value.trim() !== '');
  });

  function send() {
    const text = input.value;
    if (!text.trim()) return;
    const problem = controller.sendMessage(text);
    if (problem) {
      // Nothing was sent: keep the text so the user can shorten it.
      renderComposer();
      input.focus();
      return;
    }
    input.value = '';
    renderComposer();
    stickToBottom = true;
    input.focus();
  }

  /** The length counter against the server's limit, and why the draft cannot be sent. */
  function renderComposer() {
    const { chars, maxChars, problem } = controller.draftStatus(input.value);
    counter.textContent = `${formatCount(chars)} / ${formatCount(maxChars)}`;
    counter.dataset.state = problem ? 'over' : chars >= maxChars * NEAR_LIMIT ? 'near' : 'ok';
    // Assigned only on change: the live region re-announces every assignment.
    if (problemText.textContent !== problem) problemText.textContent = problem;
    input.setAttribute('aria-invalid', problem ? 'true' : 'false');
  }

  function renderRoom() {
    const { room } = store;
    screen.dataset.roomOpen = room ? 'true' : 'false';
    placeholder.hidden = Boolean(room);
    open.hidden = !room;
    if (room !== shownRoom) {
      // A different room: start from scratch, at the bottom.
      shownRoom = room;
      editing = null;
      picker = null;
      localReactionProblem = null;
      nodes = new Map();
      list.replaceChildren();
      stickToBottom = true;
      input.value = '';
      renderComposer();
      if (room) input.focus();
    }
    title.textContent = room ? `# ${room.name}` : '';
    open.dataset.joined = room?.joined ? 'true' : 'false';
  }

  function renderTimeline() {
    const { room } = store;
    if (!room) return;
    // Keep the reader's place when older messages are prepended above, and
    // follow the conversation when they were already at the bottom.
    const fromBottom = timeline.scrollHeight - timeline.scrollTop;
    settleEditor(room);
    const seen = new Set();
    const items = room.timeline.view().map((entry) => {
      seen.add(entry.key);
      return entryNode(entry, room);
    });
    for (const key of nodes.keys()) if (!seen.has(key)) nodes.delete(key);
    reconcileChildren(list, items);
    if (focusAfterRender) {
      focusAfterRender();
      focusAfterRender = null;
    }
    scheduleEditExpiry(room);
    if (stickToBottom) timeline.scrollTop = timeline.scrollHeight;
    else if (document.activeElement !== loadOlder) timeline.scrollTop = timeline.scrollHeight - fromBottom;
    // (With the button focused we stay at the top: it and the page it just
    // loaded stay in view.)

    renderHistoryControls(room);
    timeline.setAttribute('aria-busy', room.history === 'loading' ? 'true' : 'false');
  }

  function renderHistoryControls(room) {
    const canLoad = room.history === 'more' || room.history === 'loading';
    if (!canLoad && document.activeElement === loadOlder) {
      // Hiding a focused button would drop keyboard focus to <body>.
      timeline.focus({ preventScroll: true });
    }
    loadOlder.hidden = !canLoad;
    // Stays focusable while loading (aria-disabled, not disabled) so that a
    // keyboard user who pressed it does not lose their place.
    const busy = room.history === 'loading' || !room.joined;
    loadOlder.setAttribute('aria-disabled', String(busy));
    loadOlder.textContent = room.history === 'loading' ? 'Loading older messages…' : 'Load older messages';
    historyState.textContent = canLoad ? '' : HISTORY_TEXT[room.history] ?? '';
    historyState.hidden = !historyState.textContent;
  }

  /** Closes the editor once its save is confirmed, refused for good, or its message is gone. */
  function settleEditor(room) {
    if (!editing) return;
    const entry = room.timeline.bySeq.get(editing.seq);
    const edit = room.edits.get(editing.seq);
    const confirmed = editing.sent && !edit;
    if (!entry || entry.deleted || confirmed || (edit?.status === 'failed' && edit.final)) {
      closeEditor({ keepError: true });
    } else if (edit?.status === 'failed' && editing.sent) {
      // Refused, but the text can be fixed: the editor opens up again.
      editing.sent = false;
      editing.version += 1;
    }
  }

  function openEditor(entry) {
    controller.dismissEditError(entry.seq);
    // One editor at a time: opening another drops the first one's draft.
    if (editing && editing.seq !== entry.seq) controller.dismissEditError(editing.seq);
    editing = { seq: entry.seq, draft: entry.text, problem: '', sent: false, version: 0 };
    editorInput = null;  // a new editor, so it takes the focus
    renderTimeline();
  }

  function closeEditor({ keepError = false } = {}) {
    if (!editing) return;
    const { seq } = editing;
    if (!keepError) controller.dismissEditError(seq);
    editing = null;
    const hadFocus = editorInput && (document.activeElement === editorInput || document.activeElement === document.body);
    editorInput = null;
    // A keyboard user who was in the editor lands back on the message's Edit action.
    if (hadFocus) {
      focusAfterRender = () => {
        const li = list.querySelector(`[data-testid="message"][data-seq="${seq}"]`);
        (li?.querySelector('[data-testid="edit-message"]') ?? input).focus();
      };
    }
  }

  function saveEdit(text) {
    if (!editing) return;
    editing.draft = text;
    const problem = controller.editMessage(editing.seq, text);
    editing.problem = problem;
    editing.sent = !problem && store.room?.edits.get(editing.seq)?.status === 'saving';
    editing.version += 1;
    // Nothing to change (the same text): the editor just closes.
    if (!problem && !editing.sent) closeEditor();
    renderTimeline();
  }

  /** The Edit actions disappear when their window closes, not at the next message. */
  function scheduleEditExpiry(room) {
    clearTimeout(editExpiryTimer);
    const now = Date.now();
    const windowSeconds = controller.limits.editWindowSeconds;
    let next = Infinity;
    for (const entry of room.timeline.entries) {
      if (controller.canEdit(entry, now)) next = Math.min(next, editDeadline(entry, windowSeconds));
    }
    // setTimeout runs at once for delays past 2^31 - 1 ms.
    if (next < Infinity) editExpiryTimer = setTimeout(renderTimeline, Math.min(next - now + 50, 2 ** 31 - 1));
  }

  function entryNode(entry, room) {
    const edit = entry.kind === 'message' ? room.edits.get(entry.seq) : undefined;
    const inEditor = entry.kind === 'message' && editing?.seq === entry.seq;
    const reactions = entry.kind === 'message' && !entry.deleted ? reactionState(entry, room) : null;
    const signature = [
      entry.kind, entry.status, entry.error, entry.deleted, entry.text, entry.from, controller.isOwn(entry), entry.editedAt,
      controller.canEdit(entry), edit?.status, edit?.error, inEditor && editing.version, JSON.stringify(reactions),
    ].join('\u0000');
    const known = nodes.get(entry.key);
    if (known && known.signature === signature) return known.li;
    const li = entry.kind === 'notice' ? noticeNode(entry) : messageNode(entry, edit, inEditor, reactions);
    // Replace in place so the list order logic only ever moves known nodes.
    if (known) known.li.replaceWith(li);
    nodes.set(entry.key, { li, signature });
    return li;
  }

  function noticeNode(entry) {
    return el('li', { class: `notice notice-${entry.tone}`, dataset: { testid: 'notice' }, text: entry.text });
  }

  /** What the reaction row of `entry` shows; part of its node's signature. */
  function reactionState(entry, room) {
    const serverError = room.reactionErrors.get(entry.seq);
    const localError = localReactionProblem?.seq === entry.seq ? localReactionProblem.text : '';
    return {
      chips: entry.reactions.map(({ emoji, count, mine }) => ({ emoji, count, mine })),
      picker: picker?.seq === entry.seq ? { version: picker.version } : null,
      error: localError || (serverError !== undefined ? reactionErrorText(serverError) : ''),
    };
  }

  function toggleReaction(seq, emoji) {
    const problem = controller.toggleReaction(seq, emoji);
    localReactionProblem = problem ? { seq, text: problem } : null;
    return problem;
  }

  function openPicker(seq) {
    picker = { seq, draft: '', problem: '', version: 0 };
    pickerInput = null;  // a new picker, so its field takes the focus
    localReactionProblem = null;
    renderTimeline();
  }

  function closePicker() {
    if (!picker) return;
    const { seq } = picker;
    const li = list.querySelector(`[data-testid="message"][data-seq="${seq}"]`);
    // A keyboard user in the picker lands back on the message's "add reaction".
    const hadFocus = document.activeElement === document.body || Boolean(li?.contains(document.activeElement));
    picker = null;
    pickerInput = null;
    if (hadFocus) {
      focusAfterRender = () => {
        list.querySelector(`[data-testid="message"][data-seq="${seq}"] [data-testid="add-reaction"]`)?.focus();
      };
    }
    renderTimeline();
  }

  /** A choice or the typed emoji: toggles it like its chip would; a refusal stays in the picker. */
  function submitReaction(emoji) {
    if (!picker) return;
    const problem = toggleReaction(picker.seq, emoji.trim());
    if (problem) {
      localReactionProblem = null;  // shown in the picker instead
      Object.assign(picker, { draft: emoji, problem, version: picker.version + 1 });
      renderTimeline();
      return;
    }
    closePicker();
  }

  function reactionRow(entry) {
    const open = picker?.seq === entry.seq;
    const { parts, input } = reactionBar({
      chips: entry.reactions,
      picker: open ? { draft: picker.draft, problem: picker.problem } : null,
      error: reactionState(entry, store.room).error,
      onToggle: (emoji) => {
        toggleReaction(entry.seq, emoji);
        renderTimeline();
      },
      onOpenPicker: () => openPicker(entry.seq),
      onClosePicker: closePicker,
      onDraft: (text) => {
        picker.draft = text;
        picker.problem = text.trim() ? controller.reactionDraftProblem(entry.seq, text.trim()) : '';
        return picker.problem;
      },
      onSubmit: submitReaction,
    });
    if (input) {
      // Into the field when the picker opens, or back into it when a live
      // reaction rebuilds the message while the user types there.
      const focusWasInPicker = !pickerInput || [pickerInput, document.body].includes(document.activeElement);
      pickerInput = input;
      if (focusWasInPicker) {
        focusAfterRender = () => {
          input.focus();
          input.setSelectionRange(input.value.length, input.value.length);
        };
      }
    }
    return parts;
  }

  function messageNode(entry, edit, inEditor, reactions) {
    const own = controller.isOwn(entry);
    const state = entry.kind === 'pending' ? entry.status : entry.deleted ? 'deleted' : 'sent';
    const li = el('li', {
      class: `message${own ? ' own' : ''}`,
      dataset: {
        testid: 'message', state, from: entry.from,
        ...(entry.kind === 'message' ? { seq: String(entry.seq) } : { clientId: entry.clientId }),
      },
    });
    const canDelete = own && entry.kind === 'message' && !entry.deleted;
    const canEdit = !inEditor && controller.canEdit(entry);
    const meta = el('p', { class: 'message-meta' }, [
      el('span', { class: 'message-from', dataset: { testid: 'message-from' }, text: entry.from }),
      ' ',
      el('time', { datetime: isoTime(entry.ts) || null, text: formatTime(entry.ts) }),
      entry.editedAt && !entry.deleted ? editedMark(entry.editedAt) : null,
      state === 'pending' ? el('span', { class: 'message-state', text: 'sending…' }) : null,
      edit?.status === 'saving' ? el('span', { class: 'message-state', text: 'saving edit…' }) : null,
      canEdit ? el('button', {
        type: 'button',
        class: 'button-small button-quiet message-edit',
        text: 'Edit',
        'aria-label': `Edit your message from ${formatTime(entry.ts) || 'earlier'}: ${preview(entry.text)}`,
        dataset: { testid: 'edit-message' },
        on: { click: () => openEditor(entry) },
      }) : null,
      canDelete ? el('button', {
        type: 'button',
        class: 'button-small button-quiet message-delete',
        text: 'Delete',
        'aria-label': `Delete your message from ${formatTime(entry.ts) || 'earlier'}: ${preview(entry.text)}`,
        dataset: { testid: 'delete-message' },
        on: { click: () => controller.deleteMessage(entry.seq) },
      }) : null,
    ]);
    li.append(meta);
    if (entry.deleted) {
      li.append(el('p', { class: 'message-text tombstone', dataset: { testid: 'message-text' }, text: 'message deleted' }));
      return li;
    }
    if (inEditor) {
      const { form, input: textarea } = messageEditor({
        seq: entry.seq,
        draft: editing.draft,
        problem: editing.problem,
        saving: editing.sent,
        onInput: (text) => {
          editing.draft = text;
          editing.problem = controller.editDraftProblem(entry.seq, text);
          return editing.problem;
        },
        onSave: saveEdit,
        onCancel: () => {
          closeEditor();
          renderTimeline();
        },
      });
      li.append(form);
      // Into the new editor when it opens, or when it is rebuilt while the user
      // is in it; never away from wherever else they went meanwhile.
      const focusWasInEditor = !editorInput || [editorInput, document.body].includes(document.activeElement);
      editorInput = textarea;
      if (!editing.sent && focusWasInEditor) {
        focusAfterRender = () => {
          textarea.focus();
          textarea.setSelectionRange(textarea.value.length, textarea.value.length);
        };
      }
    } else {
      li.append(el('p', { class: 'message-text', dataset: { testid: 'message-text' }, text: entry.text }));
    }
    if (edit?.status === 'failed') {
      li.append(el('p', { class: 'message-error', role: 'status', dataset: { testid: 'edit-error' }, text: editNotSavedText(edit.error) }));
    }
    if (reactions) li.append(...reactionRow(entry));
    if (state === 'failed') {
      li.append(
        el('p', { class: 'message-error', dataset: { testid: 'message-error' }, text: notSentText(entry.error) }),
        el('div', { class: 'message-actions' }, [
          el('button', { type: 'button', class: 'button-small', text: 'Retry', on: { click: () => controller.retryMessage(entry.clientId) } }),
          el('button', { type: 'button', class: 'button-small button-quiet', text: 'Discard', on: { click: () => controller.discardMessage(entry.clientId) } }),
        ]),
      );
    }
    return li;
  }

  function renderTyping() {
    clearTimeout(typingTimer);
    const nicks = store.room ? store.room.typingNicks() : [];
    typing.textContent = typingText(nicks);
    // Redraw when the next indicator expires (it was not refreshed in 6 s).
    if (nicks.length) {
      const wait = store.room.nextTypingExpiry() - Date.now();
      typingTimer = setTimeout(renderTyping, Math.max(50, wait));
    }
  }

  function renderMembers() {
    const { room } = store;
    const me = store.session?.nick ?? '';
    const members = room ? [...room.members].sort((a, b) => a.localeCompare(b)) : [];
    memberCount.textContent = room ? `(${members.length})` : '';
    memberList.replaceChildren(...members.map((nick) => {
      if (nick === me) {
        return el('li', { class: 'member self', dataset: { testid: 'member', nick } }, [
          el('span', { text: nick }), el('span', { class: 'hint', text: ' (you)' }),
        ]);
      }
      return el('li', { class: 'member', dataset: { testid: 'member', nick } }, [
        el('button', {
          type: 'button',
          class: 'member-button',
          text: nick,
          'aria-label': `Send a direct message to ${nick}`,
          on: { click: () => controller.openDm(nick) },
        }),
      ]);
    }));
  }

  store.on('room', renderRoom);
  store.on('timeline', renderTimeline);
  store.on('typing', renderTyping);
  store.on('members', renderMembers);
  store.on('session', () => {
    renderComposer();  // the welcome brings the limits
    renderTimeline();
    renderMembers();
  });
  renderRoom();
}

export function typingText(nicks) {
  if (nicks.length === 0) return '';
  if (nicks.length === 1) return `${nicks[0]} is typing…`;
  if (nicks.length === 2) return `${nicks[0]} and ${nicks[1]} are typing…`;
  return 'Several people are typing…';
}

/** "Not sent." and the reason, as a sentence (server messages may start in lower case). */
export function notSentText(error) {
  if (!error) return 'Not sent.';
  const sentence = error[0].toUpperCase() + error.slice(1);
  return `Not sent. ${/[.!?…]$/.test(sentence) ? sentence : `${sentence}.`}`;
}

/** "Edit not saved." and the reason, as a sentence. */
export function editNotSavedText(error) {
  return notSentText(error).replace(/^Not sent\./, 'Edit not saved.');
}

function preview(text) {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
