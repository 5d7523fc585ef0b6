// Albums: the list with covers and a form to make one, and an album's page: its photos (the
// same grid and viewer), rename, add photos through a picker, cover, share and delete.
import { api, config, qs } from './api.js';
import { createGrid, thumbFrame } from './gallery.js';
import { navigate } from './router.js';
import { openShare } from './share.js';
import { announce, confirmBox, field, formatCount, h, openModal, statusLine } from './ui.js';

function count(n) {
  return `${formatCount(n)} ${n === 1 ? 'photo' : 'photos'}`;
}

function card(cfg, album) {
  const cover = album.cover ? thumbFrame(cfg, album.cover) : h('span', { class: 'thumb empty', 'aria-hidden': 'true' });
  // the cover is decoration here: the link's name is the album's title
  const img = cover.querySelector('img');
  if (img) img.alt = '';
  return h(
    'li',
    { class: 'album-card' },
    h('a', { href: `/albums/${album.id}`, class: 'album-link' }, cover, h('span', { class: 'album-title', text: album.title })),
    h('span', { class: 'album-count', text: count(album.image_count) }),
  );
}

// "/albums"
export async function albumsPage(ctx) {
  document.title = 'Albums · kho';
  const cfg = await config();
  const list = h('ul', { class: 'albums', role: 'list' });
  const status = h('p', { class: 'grid-status', role: 'status' });
  const titleIn = h('input', { type: 'text', name: 'title', required: true, maxlength: 200, autocomplete: 'off' });
  const made = statusLine();
  const form = h(
    'form',
    { class: 'inline create-album' },
    field('New album', titleIn),
    h('button', { class: 'btn primary', type: 'submit', text: 'Create album' }),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    made.clear();
    try {
      const album = await api('POST', '/api/v1/albums', { title: titleIn.value.trim() });
      titleIn.value = '';
      list.prepend(card(cfg, album));
      status.textContent = '';
      made.ok(`Album “${album.title}” created.`);
    } catch (err) {
      made.error(`Cannot create the album: ${err.message}.`);
    }
  });
  ctx.root.append(
    h(
      'section',
      { class: 'page' },
      h('div', { class: 'page-head' }, h('h1', { text: 'Albums' })),
      form,
      made.el,
      list,
      status,
    ),
  );
  let cursor = null;
  try {
    do {
      const page = await api('GET', `/api/v1/albums${qs({ limit: 200, cursor })}`);
      list.append(...page.items.map((a) => card(cfg, a)));
      cursor = page.next_cursor;
    } while (cursor && ctx.live());
    if (!list.children.length) status.textContent = 'No albums yet. Give one a title above.';
  } catch (err) {
    status.textContent = `Cannot load albums: ${err.message}.`;
  }
}

// A dialog listing your photos as toggles; resolves with the chosen ids ([] when cancelled).
async function pickPhotos(album) {
  const grid = await createGrid({
    load: (cursor) => api('GET', `/api/v1/images${qs({ limit: 48, cursor })}`),
    select: true,
    empty: 'You have no photos yet.',
  });
  return new Promise((resolve) => {
    const add = h('button', { class: 'btn primary', value: 'add', text: 'Add 0 photos', disabled: true });
    grid.onSelect(() => {
      const n = grid.selected().length;
      add.textContent = `Add ${count(n)}`;
      add.disabled = n === 0;
    });
    const dialog = h(
      'dialog',
      { class: 'box picker', 'aria-labelledby': 'pick-title' },
      h('h2', { id: 'pick-title', text: `Add photos to “${album.title}”` }),
      h('p', { class: 'sub', text: 'Choose photos, then add them.' }),
      h('div', { class: 'picker-grid' }, grid.el),
      h('form', { method: 'dialog', class: 'actions end' }, h('button', { class: 'btn', value: 'cancel', text: 'Cancel' }), add),
    );
    openModal(dialog, (v) => {
      grid.destroy();
      resolve(v === 'add' ? grid.selected() : []);
    });
  });
}

// "/albums/{id}"
export async function albumPage(ctx) {
  const id = ctx.params.id;
  let album;
  try {
    album = await api('GET', `/api/v1/albums/${encodeURIComponent(id)}`);
  } catch (err) {
    document.title = 'Album · kho';
    ctx.root.append(
      h(
        'section',
        { class: 'page narrow message' },
        h('h1', { text: err.status === 404 ? 'No such album' : 'Cannot open the album' }),
        h('p', { text: err.status === 404 ? 'It may have been deleted.' : `The server said: ${err.message}.` }),
        h('p', null, h('a', { href: '/albums', text: 'All albums' })),
      ),
    );
    return;
  }
  document.title = `${album.title} · kho`;
  const heading = h('h1', { text: album.title });
  const sub = h('p', { class: 'sub' });
  const status = statusLine();
  const setAlbum = (a) => {
    album = a;
    heading.textContent = a.title;
    sub.textContent = count(a.image_count) + (a.cover_id ? ' · cover chosen' : '');
    document.title = `${a.title} · kho`;
  };
  setAlbum(album);

  let grid = null;
  const holder = h('div', { class: 'album-grid' });
  const loadGrid = async () => {
    if (grid) grid.destroy();
    grid = await createGrid({
      load: (cursor) => api('GET', `/api/v1/albums/${album.id}/images${qs({ limit: 48, cursor })}`),
      viewer: { album, onAlbum: setAlbum },
      empty: 'This album is empty. Add photos with the button above.',
    });
    holder.replaceChildren(grid.el);
  };
  ctx.onCleanup(() => grid && grid.destroy());

  // rename in place
  const renameIn = h('input', { type: 'text', name: 'title', maxlength: 200, required: true, autocomplete: 'off' });
  const renameForm = h(
    'form',
    { class: 'inline', hidden: true },
    field('Album title', renameIn),
    h('button', { class: 'btn primary', type: 'submit', text: 'Save' }),
    h('button', { class: 'btn ghost', type: 'button', text: 'Cancel', onclick: () => toggleRename(false) }),
  );
  const renameBtn = h('button', { class: 'btn', type: 'button', text: 'Rename', 'aria-expanded': 'false' });
  const toggleRename = (open) => {
    renameForm.hidden = !open;
    renameBtn.setAttribute('aria-expanded', String(open));
    if (open) {
      renameIn.value = album.title;
      renameIn.focus();
      renameIn.select();
    } else {
      renameBtn.focus();
    }
  };
  renameBtn.addEventListener('click', () => toggleRename(renameForm.hidden));
  renameForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      setAlbum(await api('PATCH', `/api/v1/albums/${album.id}`, { title: renameIn.value.trim() }));
      toggleRename(false);
      status.ok('Renamed.');
    } catch (err) {
      status.error(`Cannot rename: ${err.message}.`);
    }
  });

  const addBtn = h('button', { class: 'btn primary', type: 'button', text: 'Add photos…' });
  addBtn.addEventListener('click', async () => {
    const ids = await pickPhotos(album);
    if (!ids.length) return;
    try {
      setAlbum(await api('POST', `/api/v1/albums/${album.id}/images`, { ids }));
      await loadGrid();
      status.ok(`Added ${count(ids.length)}.`);
    } catch (err) {
      status.error(`Cannot add photos: ${err.message}.`);
    }
  });
  const shareBtn = h('button', { class: 'btn', type: 'button', text: 'Share album…' });
  shareBtn.addEventListener('click', () => openShare({ kind: 'album', id: album.id, name: album.title }));
  const delBtn = h('button', { class: 'btn danger', type: 'button', text: 'Delete album…' });
  delBtn.addEventListener('click', async () => {
    const ok = await confirmBox({
      title: 'Delete this album?',
      message: `“${album.title}” will be deleted. Its photos stay in your library.`,
      confirm: 'Delete album',
      danger: true,
    });
    if (!ok) return;
    try {
      await api('DELETE', `/api/v1/albums/${album.id}`);
      announce('Album deleted.');
      navigate('/albums');
    } catch (err) {
      status.error(`Cannot delete: ${err.message}.`);
    }
  });

  ctx.root.append(
    h(
      'section',
      { class: 'page' },
      h('p', { class: 'crumbs' }, h('a', { href: '/albums', text: '← Albums' })),
      h('div', { class: 'page-head' }, heading, sub),
      h('div', { class: 'actions wrap toolbar' }, addBtn, renameBtn, shareBtn, delBtn),
      renameForm,
      status.el,
      holder,
    ),
  );
  await loadGrid();
}
