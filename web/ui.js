// Small DOM helpers shared by every page: an element builder, formatting, the polite
// announcer for screen readers, modal dialogs that trap and restore focus, and a confirm box.

// h('button', {class: 'btn', onclick: fn, 'aria-label': 'Close'}, 'text', child...)
// Props named on* become listeners, class/text/value/checked are set as properties, false and
// null are skipped, everything else is an attribute. Children may be strings, nodes or arrays.
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'value' || k === 'checked' || k === 'selected') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// Binary units, as the server's messages use: "12.3 MiB", "512 bytes".
export function formatBytes(n) {
  if (n < 1024) return `${n} ${n === 1 ? 'byte' : 'bytes'}`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 100 || Number.isInteger(v) ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

export function formatCount(n) {
  return Number(n).toLocaleString('en-US');
}

export function formatDate(iso, withTime = false) {
  if (!iso) return '';
  const d = new Date(iso);
  const opts = { year: 'numeric', month: 'short', day: 'numeric' };
  if (withTime) Object.assign(opts, { hour: '2-digit', minute: '2-digit' });
  return d.toLocaleString(undefined, opts);
}

// What a screen reader hears for a photo: its title, else a description of it.
export function altOf(img) {
  if (img.title) return img.title;
  return `Untitled photo, uploaded ${formatDate(img.created_at)}`;
}

// Say text through the page's polite live region.
export function announce(text) {
  const live = document.getElementById('live');
  if (!live) return;
  live.textContent = '';
  // a new node after a tick, so the same message twice is read twice
  setTimeout(() => {
    live.textContent = text;
  }, 30);
}

const FOCUSABLE =
  'a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

function visibleFocusables(root) {
  return [...root.querySelectorAll(FOCUSABLE)].filter(
    (el) => el.offsetParent !== null || el === document.activeElement,
  );
}

// Show dialog modally: Tab cycles inside it, Esc closes it, and focus goes back where it was
// (or to the element onClose returns). onClose runs once, with the dialog's returnValue, when
// it closes; the dialog is removed from the document then.
export function openModal(dialog, onClose) {
  const opener = document.activeElement;
  const trap = (e) => {
    if (e.key !== 'Tab') return;
    const els = visibleFocusables(dialog);
    if (!els.length) return;
    const first = els[0];
    const last = els[els.length - 1];
    if (e.shiftKey && (document.activeElement === first || !dialog.contains(document.activeElement))) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault();
      first.focus();
    }
  };
  dialog.addEventListener('keydown', trap);
  dialog.addEventListener(
    'close',
    () => {
      dialog.removeEventListener('keydown', trap);
      dialog.remove();
      const target = (onClose && onClose(dialog.returnValue)) || opener;
      if (target && target.isConnected && typeof target.focus === 'function') target.focus();
    },
    { once: true },
  );
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

// A yes/no question in a modal; resolves true when confirmed.
export function confirmBox({ title, message, confirm = 'OK', danger = false }) {
  return new Promise((resolve) => {
    const id = `confirm-${Math.random().toString(36).slice(2)}`;
    const dialog = h(
      'dialog',
      { class: 'box', 'aria-labelledby': `${id}-t`, 'aria-describedby': `${id}-m` },
      h('h2', { id: `${id}-t`, text: title }),
      h('p', { id: `${id}-m`, text: message }),
      h(
        'form',
        { method: 'dialog', class: 'actions' },
        h('button', { class: 'btn', value: 'cancel', text: 'Cancel' }),
        h('button', { class: danger ? 'btn danger' : 'btn primary', value: 'ok', text: confirm }),
      ),
    );
    openModal(dialog, (v) => {
      resolve(v === 'ok');
    });
    dialog.querySelector('button[value=cancel]').focus();
  });
}

// Copy text to the clipboard; plain http pages on other hosts have no Clipboard API, so the
// old selection-based copy is the fallback.
export async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (!input) return false;
    input.focus();
    input.select();
    return document.execCommand('copy');
  }
}

// A small status line for a form: role=status, or role=alert for errors.
export function statusLine() {
  const el = h('p', { class: 'form-status', role: 'status' });
  return {
    el,
    ok(text) {
      el.className = 'form-status ok';
      el.setAttribute('role', 'status');
      el.textContent = text;
    },
    error(text) {
      el.className = 'form-status error';
      el.setAttribute('role', 'alert');
      el.textContent = text;
    },
    clear() {
      el.textContent = '';
    },
  };
}

let ids = 0;
// A label and its control, linked by a fresh id.
export function field(labelText, control, hint) {
  const id = control.id || `f${++ids}`;
  control.id = id;
  const parts = [h('label', { for: id, text: labelText }), control];
  if (hint) {
    const hid = `${id}-hint`;
    control.setAttribute('aria-describedby', hid);
    parts.push(h('small', { id: hid, class: 'hint', text: hint }));
  }
  return h('div', { class: 'field' }, parts);
}
