// Uploads: files from drag-and-drop or the picker are checked here first (size against the
// server's limit, type by their first bytes), then sent with XHR (fetch reports no upload
// progress), a few at a time, each with a progress bar, cancel and retry, plus one overall bar.
// One queue per page load: it keeps going while the user looks at other pages.
import { config, csrfToken, errorFrom, qs } from './api.js';
import { announce, formatBytes, h } from './ui.js';

const PARALLEL = 3;
const TITLE_MAX = 200; // bytes, as the server counts

// The image format of a file's first bytes, or '' when it is none kho reads.
function sniff(b) {
  const at = (i, ...v) => v.every((x, k) => b[i + k] === x);
  const text = (i, s) => [...s].every((c, k) => b[i + k] === c.charCodeAt(0));
  if (at(0, 0xff, 0xd8, 0xff)) return 'jpeg';
  if (at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'png';
  if (text(0, 'GIF8')) return 'gif';
  if (text(0, 'RIFF') && text(8, 'WEBP')) return 'webp';
  if (at(0, 0x49, 0x49, 0x2a, 0x00) || at(0, 0x4d, 0x4d, 0x00, 0x2a)) return 'tiff';
  if (text(4, 'ftyp')) {
    const brand = String.fromCharCode(...b.slice(8, 12));
    if (brand === 'avif' || brand === 'avis') return 'avif';
    if (['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'mif1', 'msf1'].includes(brand)) return 'heif';
  }
  return '';
}

// The title an upload gets: its file name without the extension, cut to the server's limit.
function titleOf(name) {
  let t = name.replace(/\.[A-Za-z0-9]{1,5}$/, '').trim();
  const enc = new TextEncoder();
  while (enc.encode(t).length > TITLE_MAX) t = t.slice(0, -1);
  return t;
}

const LABELS = {
  queued: 'Waiting',
  checking: 'Checking',
  uploading: 'Uploading',
  processing: 'Processing',
  done: 'Uploaded',
  failed: 'Failed',
  rejected: 'Not uploaded',
  cancelled: 'Cancelled',
};

class Item {
  constructor(queue, file) {
    this.queue = queue;
    this.file = file;
    this.loaded = 0;
    this.xhr = null;
    this.state = 'checking';
    this.message = '';
    this.bar = h('progress', { max: 100, value: 0, 'aria-label': `Upload of ${file.name}` });
    this.msg = h('span', { class: 'up-msg' });
    this.button = h('button', { class: 'btn small', type: 'button' });
    this.button.addEventListener('click', () => (this.state === 'failed' || this.state === 'cancelled' ? this.retry() : this.cancel()));
    this.el = h(
      'li',
      { class: 'up-item' },
      h('span', { class: 'up-name', text: file.name, title: file.name }),
      this.bar,
      this.msg,
      this.button,
    );
    this.draw();
  }

  set(state, message = '') {
    this.state = state;
    this.message = message;
    this.draw();
    this.queue.changed();
  }

  draw() {
    const s = this.state;
    this.el.dataset.state = s;
    if (s === 'done') this.bar.value = 100;
    else if (s === 'uploading') this.bar.value = this.file.size ? Math.min(99, (100 * this.loaded) / this.file.size) : 0;
    else if (s === 'processing') this.bar.value = 99;
    const label = LABELS[s];
    this.msg.textContent = this.message ? `${label}: ${this.message}` : s === 'uploading' ? `${label} ${Math.floor(this.bar.value)}%` : label;
    const actionable = ['queued', 'checking', 'uploading', 'processing', 'failed', 'cancelled'].includes(s);
    this.button.hidden = !actionable;
    const retry = s === 'failed' || s === 'cancelled';
    this.button.textContent = retry ? 'Retry' : 'Cancel';
    this.button.setAttribute('aria-label', `${retry ? 'Retry' : 'Cancel'} ${this.file.name}`);
  }

  get active() {
    return this.state === 'uploading' || this.state === 'processing';
  }

  // Refuse what the server would refuse, without sending it.
  async check(cfg) {
    if (this.file.size > cfg.max_upload_bytes) {
      this.set('rejected', `too large (${formatBytes(this.file.size)}, limit ${formatBytes(cfg.max_upload_bytes)})`);
      return;
    }
    if (this.file.size === 0) {
      this.set('rejected', 'the file is empty');
      return;
    }
    const head = new Uint8Array(await this.file.slice(0, 16).arrayBuffer());
    const format = sniff(head);
    if (!format) this.set('rejected', 'not an image');
    else if (!cfg.formats.in.includes(format)) this.set('rejected', `${format.toUpperCase()} images are not supported here`);
    else this.set('queued');
  }

  start(visibility) {
    const xhr = new XMLHttpRequest();
    this.xhr = xhr;
    this.loaded = 0;
    this.set('uploading');
    xhr.open('POST', `/api/v1/images${qs({ title: titleOf(this.file.name), visibility })}`);
    const type = this.file.type.startsWith('image/') ? this.file.type : 'application/octet-stream';
    xhr.setRequestHeader('Content-Type', type);
    xhr.setRequestHeader('X-CSRF-Token', csrfToken());
    xhr.upload.addEventListener('progress', (e) => {
      this.loaded = e.loaded;
      this.draw();
      this.queue.changed();
    });
    // the bytes are sent; the server still checks and stores them
    xhr.upload.addEventListener('load', () => {
      if (this.state === 'uploading') this.set('processing');
    });
    xhr.addEventListener('load', () => {
      this.xhr = null;
      if (xhr.status === 200 || xhr.status === 201) {
        const img = JSON.parse(xhr.responseText);
        this.loaded = this.file.size;
        this.set('done', xhr.status === 200 ? 'already in your photos' : '');
        window.dispatchEvent(new CustomEvent('kho:uploaded', { detail: img }));
      } else {
        this.set('failed', errorFrom(xhr.status, xhr.responseText).message);
      }
      this.queue.pump();
    });
    xhr.addEventListener('error', () => {
      this.xhr = null;
      this.set('failed', 'the connection failed');
      this.queue.pump();
    });
    xhr.addEventListener('abort', () => {
      this.xhr = null;
      this.set('cancelled');
      this.queue.pump();
    });
    xhr.send(this.file);
  }

  cancel() {
    if (this.xhr) this.xhr.abort();
    else if (this.state === 'queued' || this.state === 'checking') this.set('cancelled');
  }

  retry() {
    this.loaded = 0;
    this.set('queued');
    this.queue.pump();
  }
}

class Queue {
  constructor() {
    this.items = [];
    this.visibility = h(
      'select',
      { id: 'upload-visibility', name: 'visibility' },
      h('option', { value: 'private', text: 'Private (only you)' }),
      h('option', { value: 'unlisted', text: 'Unlisted (anyone with the link)' }),
      h('option', { value: 'public', text: 'Public (shown in Explore)' }),
    );
    this.input = h('input', {
      type: 'file',
      id: 'upload-input',
      class: 'sr-only',
      multiple: true,
      accept: 'image/*,.heic,.heif,.avif',
    });
    this.input.addEventListener('change', () => {
      this.add([...this.input.files]);
      this.input.value = '';
    });
    this.total = h('progress', { id: 'upload-total', max: 100, value: 0, 'aria-label': 'All uploads' });
    this.summary = h('p', { class: 'up-summary' });
    this.pending = 0;
    this.list = h('ul', { class: 'up-list', 'aria-label': 'Uploads' });
    this.clearBtn = h('button', { class: 'btn small ghost', type: 'button', text: 'Clear finished' });
    this.clearBtn.addEventListener('click', () => this.clearFinished());
    this.status = h('div', { class: 'up-status', hidden: true }, h('div', { class: 'up-total' }, this.total, this.summary, this.clearBtn), this.list);
    this.zone = h(
      'div',
      { class: 'drop' },
      h('p', { class: 'drop-text', text: 'Drag photos here, or' }),
      this.input,
      h('label', { for: 'upload-input', class: 'btn primary file-label', text: 'Choose photos' }),
      h('div', { class: 'drop-vis' }, h('label', { for: 'upload-visibility', text: 'New photos are' }), this.visibility),
    );
    this.el = h('section', { class: 'uploader', 'aria-label': 'Upload photos' }, this.zone, this.status);
    this.zone.addEventListener('dragover', (e) => this.over(e));
    this.zone.addEventListener('drop', (e) => this.drop(e));
    this.docOver = (e) => this.over(e);
    this.docDrop = (e) => this.drop(e);
    this.docLeave = (e) => {
      if (!e.relatedTarget) this.zone.classList.remove('dragging');
    };
  }

  over(e) {
    if (!e.dataTransfer || ![...e.dataTransfer.types].includes('Files')) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
    this.zone.classList.add('dragging');
  }

  drop(e) {
    this.zone.classList.remove('dragging');
    if (!e.dataTransfer || !e.dataTransfer.files.length) return;
    e.preventDefault();
    e.stopPropagation();
    this.add([...e.dataTransfer.files]);
  }

  // The panel, placed on the page; while it is, a drop anywhere on the page uploads.
  attach() {
    document.addEventListener('dragover', this.docOver);
    document.addEventListener('drop', this.docDrop);
    document.addEventListener('dragleave', this.docLeave);
    return this.el;
  }

  detach() {
    document.removeEventListener('dragover', this.docOver);
    document.removeEventListener('drop', this.docDrop);
    document.removeEventListener('dragleave', this.docLeave);
  }

  async add(files) {
    if (!files.length) return;
    const cfg = await config();
    const fresh = files.map((f) => new Item(this, f));
    this.items.push(...fresh);
    this.list.append(...fresh.map((i) => i.el));
    this.status.hidden = false;
    await Promise.all(fresh.map((i) => i.check(cfg)));
    const rejected = fresh.filter((i) => i.state === 'rejected');
    if (rejected.length) announce(rejected.map((i) => `${i.file.name}: ${i.message}`).join('. '));
    this.pump();
  }

  pump() {
    let running = this.items.filter((i) => i.active).length;
    for (const item of this.items) {
      if (running >= PARALLEL) break;
      if (item.state === 'queued') {
        item.start(this.visibility.value);
        running++;
      }
    }
    this.changed();
  }

  // Redraw the overall bar and summary; announce (politely) only when a batch settles.
  changed() {
    const counted = this.items.filter((i) => i.state !== 'rejected' && i.state !== 'cancelled');
    const size = counted.reduce((s, i) => s + i.file.size, 0);
    const sent = counted.reduce((s, i) => s + (i.state === 'done' ? i.file.size : i.loaded), 0);
    this.total.value = size ? (100 * sent) / size : 0;
    const n = (...states) => this.items.filter((i) => states.includes(i.state)).length;
    const pending = n('queued', 'checking', 'uploading', 'processing');
    const parts = [`${n('done')} of ${counted.length} uploaded`];
    if (size) parts.push(`${formatBytes(sent)} of ${formatBytes(size)}`);
    if (n('failed')) parts.push(`${n('failed')} failed`);
    if (n('rejected')) parts.push(`${n('rejected')} not uploaded`);
    const text = parts.join(' · ');
    this.summary.textContent = pending ? `${pending} in progress · ${text}` : text;
    this.total.dataset.state = pending ? 'busy' : 'idle';
    if (this.pending && !pending) announce(`Uploads finished: ${text}`);
    this.pending = pending;
  }

  clearFinished() {
    this.items = this.items.filter((i) => {
      const keep = !['done', 'rejected', 'cancelled'].includes(i.state);
      if (!keep) i.el.remove();
      return keep;
    });
    this.status.hidden = this.items.length === 0;
    this.changed();
  }
}

let queue = null;

// The page's upload queue and its panel.
export function uploader() {
  if (!queue) queue = new Queue();
  return queue;
}
