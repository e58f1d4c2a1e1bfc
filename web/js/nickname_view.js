// The nickname screen: checks the name with GET /api/nicknames/{nick} (shows
// "taken" inline, as the user types and on submit), then hands it to the
// controller, which says `hello`. Errors from `hello` come back via showError.

import { checkNickname } from './api.js';
import { byId } from './dom.js';

// Wait for a pause in typing before asking the server.
const CHECK_DEBOUNCE_MS = 400;

export function mountNicknameView(store, controller) {
  const form = byId('nickname-form');
  const input = byId('nickname-input');
  const submit = byId('nickname-submit');
  const error = byId('nickname-error');
  let debounce = 0;
  let checkSeq = 0;   // drops answers to checks the user has typed past

  function showError(text) {
    error.textContent = text;
    input.setAttribute('aria-invalid', text ? 'true' : 'false');
  }

  function setBusy(label) {
    submit.disabled = Boolean(label);
    submit.textContent = label || 'Enter chat';
  }

  async function check(nick) {
    const seq = ++checkSeq;
    const result = await checkNickname(nick);
    if (seq !== checkSeq) return null;
    if (result.available === false) {
      showError(result.message || `"${nick}" is taken. Try another nickname.`);
    } else {
      showError('');
    }
    return result;
  }

  input.addEventListener('input', () => {
    clearTimeout(debounce);
    showError('');
    const nick = input.value.trim();
    if (nick) debounce = setTimeout(() => check(nick), CHECK_DEBOUNCE_MS);
  });

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearTimeout(debounce);
    const nick = input.value.trim();
    if (!nick) {
      showError('Please enter a nickname.');
      input.focus();
      return;
    }
    setBusy('Checking…');
    const result = await check(nick);
    if (!result || result.available === false) {
      setBusy('');
      input.focus();
      return;
    }
    // available === null (the check failed) still goes ahead: `hello` decides.
    setBusy('Connecting…');
    controller.enter(nick);
  });

  store.on('session', () => {
    if (store.screen !== 'nickname') setBusy('');
  });

  return {
    /** The server refused the nick (taken meanwhile, invalid, reclaim too late). */
    showError(text) {
      setBusy('');
      showError(text);
      input.focus();
    },
    focus() {
      input.focus();
    },
  };
}
