// The dashboard's shell: the pages by URL hash, the connection state in the header, and the sign-in.
// Plain ES modules served by the gateway: no build step, no CDN, nothing to install.
import { checkReadiness, explain, health, onHealth, setHealth, signIn, signOut } from './api.js';
import { mountAgents, mountRejections, mountSessions } from './admin.js';
import { mountBuild } from './build-page.js';
import { mountBuilds } from './builds.js';
import { closeAll } from './live.js';
import { mountOutbox } from './outbox.js';
import * as store from './store.js';
import { mountTriggers } from './triggers.js';

const main = document.getElementById('view');
const ROUTES = [
  [/^#?\/?$/, 'builds', () => mountBuilds(main)],
  [/^#\/builds\/([^/]+)$/, 'builds', (id) => mountBuild(main, decodeURIComponent(id))],
  [/^#\/outbox$/, 'outbox', () => mountOutbox(main)],
  [/^#\/triggers$/, 'triggers', () => mountTriggers(main)],
  [/^#\/sessions$/, 'sessions', () => mountSessions(main)],
  [/^#\/rejections$/, 'rejections', () => mountRejections(main)],
  [/^#\/agents$/, 'agents', () => mountAgents(main)],
];
let unmount = () => undefined;

function route() {
  unmount();
  const hash = location.hash;
  const found = ROUTES.find(([pattern]) => pattern.test(hash));
  if (!found) {
    main.replaceChildren(Object.assign(document.createElement('p'), { textContent: `No page ${hash}.` }));
    unmount = () => undefined;
    return;
  }
  const [pattern, section, mount] = found;
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  unmount = mount(...pattern.exec(hash).slice(1)) ?? (() => undefined);
}

// The header says which part is down, not only that something is.
const dot = document.querySelector('#conn .dot');
const connText = document.getElementById('conn-text');
const problems = document.getElementById('problems');
function showHealth(h) {
  const issues = [];
  if (h.gateway === 'down') issues.push('The gateway does not answer; the page reconnects when it is back.');
  else {
    if (h.nats === 'down')
      issues.push('The gateway has lost NATS: live updates pause and catch up when it returns.');
    if (h.orchestrator === 'down')
      issues.push('The orchestrator does not answer: lists and actions wait for it; live updates go on.');
  }
  if (h.auth === 'needed') issues.push('This gateway needs an access token: sign in.');
  const state = h.gateway === 'down' || h.nats === 'down' ? 'down' : h.live;
  dot.dataset.state = state;
  connText.textContent =
    h.gateway === 'down'
      ? 'gateway unreachable'
      : h.nats === 'down'
        ? 'NATS away'
        : h.live === 'live'
          ? h.orchestrator === 'down'
            ? 'live (orchestrator away)'
            : 'live'
          : h.live === 'reconnecting'
            ? 'reconnecting…'
            : 'connecting…';
  problems.hidden = issues.length === 0;
  problems.textContent = issues.join(' ');
  document.getElementById('sign-in-open').hidden = h.auth !== 'needed';
  document.getElementById('sign-out').hidden = h.auth !== 'signed-in';
}
onHealth(showHealth);
onHealth((h) => {
  if (h.auth === 'needed' && !dialog.open && !dialogDismissed) openSignIn();
});

// Sign-in: the pasted token becomes an HttpOnly cookie (POST /auth/session); the page never keeps it.
const dialog = document.getElementById('sign-in');
const tokenInput = document.getElementById('token-input');
const signInError = document.getElementById('sign-in-error');
let dialogDismissed = false;
function openSignIn() {
  signInError.textContent = '';
  tokenInput.value = '';
  dialog.showModal();
  tokenInput.focus();
}
document.getElementById('sign-in-open').addEventListener('click', openSignIn);
document.getElementById('sign-in-cancel').addEventListener('click', () => {
  dialogDismissed = true;
  dialog.close();
});
document.getElementById('sign-in-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  try {
    await signIn(tokenInput.value);
    dialog.close();
    dialogDismissed = false;
    restart();
  } catch (error) {
    signInError.textContent = explain(error);
  }
});
document.getElementById('sign-out').addEventListener('click', async () => {
  await signOut();
  restart();
});

/** After a sign-in or out: every stream and page again, with the new cookie. */
function restart() {
  closeAll();
  store.stop();
  store.builds.clear();
  setHealth('live', 'connecting');
  void store.start();
  route();
}

window.addEventListener('hashchange', () => {
  route();
  main.focus();
});
showHealth(health);
void checkReadiness();
void store.start();
route();
