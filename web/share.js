// Share links: the dialog that makes one for a photo or an album (optionally expiring) and
// shows its URL with a copy button, and the /s/{token} page that someone opens, logged in or
// not, to see what was shared.
import { api, config, qs } from './api.js';
import { createGrid } from './gallery.js';
import { copyText, field, formatDate, h, openModal, statusLine } from './ui.js';
import { fittedPicture } from './viewer.js';

const EXPIRY = [
  ['', 'Never'],
  ['3600', 'In 1 hour'],
  ['86400', 'In 1 day'],
  ['604800', 'In 7 days'],
];

// kind 'image' | 'album', id, name (for the heading).
export function openShare({ kind, id, name }) {
  const what = kind === 'album' ? 'album' : 'photo';
  const expiry = h('select', { name: 'expires' }, EXPIRY.map(([v, t]) => h('option', { value: v, text: t })));
  const status = statusLine();
  const url = h('input', { type: 'text', readonly: true, class: 'link-url', name: 'url' });
  const copy = h('button', { class: 'btn', type: 'button', text: 'Copy link' });
  const result = h('div', { class: 'share-result', hidden: true }, field('Link', url), h('div', { class: 'actions' }, copy));
  const create = h('button', { class: 'btn primary', type: 'submit', text: 'Create link' });
  const form = h('form', { class: 'share-form' }, field('Link expires', expiry), h('div', { class: 'actions' }, create));
  const dialog = h(
    'dialog',
    { class: 'box share', 'aria-labelledby': 'share-title' },
    h('h2', { id: 'share-title', text: `Share “${name}”` }),
    h('p', { text: `Anyone with the link can see this ${what}, without an account. You can make as many links as you like.` }),
    form,
    result,
    status.el,
    h('form', { method: 'dialog', class: 'actions end' }, h('button', { class: 'btn', value: 'done', text: 'Done' })),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    status.clear();
    create.disabled = true;
    try {
      const secs = expiry.value ? Number(expiry.value) : null;
      const link = await api('POST', `/api/v1/${kind === 'album' ? 'albums' : 'images'}/${id}/links`, { expires_in: secs });
      url.value = link.url || location.origin + link.path;
      result.hidden = false;
      status.ok(link.expires_at ? `Link created. It stops working on ${formatDate(link.expires_at, true)}.` : 'Link created. It works until you delete the photo or album.');
      url.focus();
      url.select();
    } catch (err) {
      status.error(`Cannot create a link: ${err.message}.`);
    } finally {
      create.disabled = false;
    }
  });
  copy.addEventListener('click', async () => {
    if (await copyText(url.value, url)) status.ok('Link copied.');
    else status.error('Copy the link from the field above.');
  });
  openModal(dialog);
  expiry.focus();
}

function failure(ctx, err) {
  const gone = err.status === 410;
  const missing = err.status === 404;
  document.title = 'Shared link · kho';
  ctx.root.append(
    h(
      'section',
      { class: 'page narrow message' },
      h('h1', { text: gone ? 'This link has expired' : missing ? 'This link does not work' : 'Cannot open this link' }),
      h('p', {
        text: gone
          ? 'Whoever shared it chose for it to stop working after a while. Ask them for a new link.'
          : missing
            ? 'It may have been mistyped or revoked, or what it shared was deleted.'
            : `The server said: ${err.message}.`,
      }),
      h('p', null, h('a', { href: '/explore', text: 'See public photos instead' })),
    ),
  );
}

// "/s/{token}": a shared photo or album.
export async function sharedPage(ctx) {
  const token = ctx.params.token;
  const path = `/api/v1/shared/${encodeURIComponent(token)}`;
  let data;
  try {
    data = await api('GET', path);
  } catch (err) {
    failure(ctx, err);
    return;
  }
  const cfg = await config();
  const expires = data.expires_at ? h('p', { class: 'sub', text: `This link works until ${formatDate(data.expires_at, true)}.` }) : null;
  if (data.kind === 'image') {
    const img = data.image;
    document.title = `${img.title || 'A shared photo'} · kho`;
    const box = Math.min(window.innerWidth - 32, 1600);
    ctx.root.append(
      h(
        'section',
        { class: 'page shared' },
        h('div', { class: 'page-head' }, h('h1', { text: img.title || 'A shared photo' }), h('p', { class: 'sub', text: `Shared by ${img.owner.username} · ${img.width} × ${img.height}${img.taken_at ? ` · taken ${formatDate(img.taken_at)}` : ''}` }), expires),
        fittedPicture(cfg, img, box, Math.max(240, window.innerHeight - 220)),
      ),
    );
    return;
  }
  const album = data.album;
  document.title = `${album.title} · kho`;
  let first = data.images;
  const grid = await createGrid({
    load: async (cursor) => {
      if (first) {
        const page = first;
        first = null;
        return page;
      }
      return (await api('GET', `${path}${qs({ cursor })}`)).images;
    },
    empty: 'This album is empty.',
  });
  ctx.onCleanup(() => grid.destroy());
  ctx.root.append(
    h(
      'section',
      { class: 'page shared' },
      h(
        'div',
        { class: 'page-head' },
        h('h1', { text: album.title }),
        h('p', { class: 'sub', text: `${album.image_count} ${album.image_count === 1 ? 'photo' : 'photos'}` }),
        album.description ? h('p', { class: 'description', text: album.description }) : null,
        expires,
      ),
      grid.el,
    ),
  );
}
