// The photo viewer: a modal dialog over a grid's photos, the image fitted to the screen (the
// smallest allow-listed variant that fills it), ←/→ to step, Esc to close; its details; and
// for the owner, editing, albums, sharing and deletion.
import { api, fittedUrl, variantUrl } from './api.js';
import { session } from './auth.js';
import { openShare } from './share.js';
import { placeholderUrl } from './thumbhash.js';
import { altOf, announce, confirmBox, field, formatBytes, formatDate, h, openModal, statusLine } from './ui.js';

const VISIBILITY = {
  private: 'Private: only you',
  unlisted: 'Unlisted: anyone with the link',
  public: 'Public: listed in Explore',
};

function isOwner(img) {
  return !!(session.user && img.owner && img.owner.id === session.user.id);
}

function typing(el) {
  return el && (el.closest('input, textarea, select, [contenteditable]') !== null);
}

function tagsOf(text) {
  return [...new Set(text.split(',').map((t) => t.trim().toLowerCase()).filter(Boolean))];
}

// Open the viewer on grid.items[index]. album: the album being looked at (adds "set as cover"
// and "remove from album"); onAlbum(album) hears about changes to it.
export function openViewer({ grid, index, album = null, onAlbum = null }) {
  const cfg = grid.cfg;
  let i = index;
  let img = grid.items[i];

  const picture = h('img', { class: 'viewer-img', alt: '' });
  const prev = h('button', { class: 'nav prev', type: 'button', 'aria-label': 'Previous photo', text: '‹' });
  const next = h('button', { class: 'nav next', type: 'button', 'aria-label': 'Next photo', text: '›' });
  const stage = h('div', { class: 'viewer-stage' }, prev, picture, next);
  const title = h('h2', { id: 'viewer-title' });
  const counter = h('p', { class: 'counter', 'aria-live': 'polite' });
  const close = h('button', { class: 'btn icon close', type: 'button', 'aria-label': 'Close viewer', text: '×' });
  const details = h('dl', { class: 'details' });
  const tags = h('ul', { class: 'chips', 'aria-label': 'Tags of this photo' });
  const owned = h('div', { class: 'owner-tools' });
  const side = h(
    'div',
    { class: 'viewer-side' },
    h('div', { class: 'viewer-head' }, title, close),
    counter,
    details,
    tags,
    owned,
  );
  const dialog = h('dialog', { class: 'viewer', 'aria-labelledby': 'viewer-title' }, stage, side);

  // --- owner tools -------------------------------------------------------------------------
  const titleIn = h('input', { type: 'text', name: 'title', maxlength: 200, autocomplete: 'off' });
  const tagsIn = h('input', { type: 'text', name: 'tags', autocomplete: 'off', spellcheck: 'false' });
  const visIn = h(
    'select',
    { name: 'visibility' },
    Object.entries(VISIBILITY).map(([v, t]) => h('option', { value: v, text: t })),
  );
  const saved = statusLine();
  const editForm = h(
    'form',
    { class: 'edit' },
    h('h3', { text: 'Edit' }),
    field('Title', titleIn),
    field('Tags', tagsIn, 'Separate tags with commas.'),
    field('Visibility', visIn),
    h('div', { class: 'actions' }, h('button', { class: 'btn primary', type: 'submit', text: 'Save changes' })),
    saved.el,
  );
  editForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    saved.clear();
    try {
      const body = { title: titleIn.value.trim(), tags: tagsOf(tagsIn.value), visibility: visIn.value };
      const updated = await api('PATCH', `/api/v1/images/${img.id}`, body);
      grid.update(updated);
      img = updated;
      draw();
      saved.ok('Saved.');
      window.dispatchEvent(new CustomEvent('kho:changed'));
    } catch (err) {
      saved.error(err.message);
    }
  });

  const albumStatus = statusLine();
  const albumPick = h('select', { name: 'album' });
  const albumAdd = h('button', { class: 'btn', type: 'submit', text: 'Add' });
  const albumForm = h('form', { class: 'inline', hidden: true }, field('Album', albumPick), albumAdd);
  const albumOpen = h('button', { class: 'btn', type: 'button', 'aria-expanded': 'false', text: 'Add to album…' });
  albumOpen.addEventListener('click', async () => {
    const open = albumForm.hidden;
    albumForm.hidden = !open;
    albumOpen.setAttribute('aria-expanded', String(open));
    if (!open) return;
    albumStatus.clear();
    try {
      const page = await api('GET', '/api/v1/albums?limit=200');
      albumPick.replaceChildren(...page.items.map((a) => h('option', { value: a.id, text: a.title })));
      if (!page.items.length) albumStatus.ok('You have no albums yet: make one on the Albums page.');
      albumAdd.disabled = !page.items.length;
      albumPick.focus();
    } catch (err) {
      albumStatus.error(`Albums are unavailable: ${err.message}.`);
      albumAdd.disabled = true;
    }
  });
  albumForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = albumPick.selectedOptions[0] ? albumPick.selectedOptions[0].textContent : '';
    try {
      await api('POST', `/api/v1/albums/${albumPick.value}/images`, { ids: [img.id] });
      albumStatus.ok(`Added to “${name}”.`);
    } catch (err) {
      albumStatus.error(err.message);
    }
  });

  const share = h('button', { class: 'btn', type: 'button', text: 'Share link…' });
  share.addEventListener('click', () => openShare({ kind: 'image', id: img.id, name: altOf(img) }));
  const del = h('button', { class: 'btn danger', type: 'button', text: 'Delete photo…' });
  del.addEventListener('click', remove);

  const inAlbum = [];
  if (album) {
    const cover = h('button', { class: 'btn', type: 'button', text: 'Use as album cover' });
    cover.addEventListener('click', async () => {
      try {
        const a = await api('PATCH', `/api/v1/albums/${album.id}`, { cover_id: img.id });
        albumStatus.ok('This photo is now the album cover.');
        if (onAlbum) onAlbum(a);
      } catch (err) {
        albumStatus.error(err.message);
      }
    });
    const out = h('button', { class: 'btn', type: 'button', text: 'Remove from album' });
    out.addEventListener('click', async () => {
      try {
        const a = await api('DELETE', `/api/v1/albums/${album.id}/images`, { ids: [img.id] });
        if (onAlbum) onAlbum(a);
        dropCurrent('Removed from the album.');
      } catch (err) {
        albumStatus.error(err.message);
      }
    });
    inAlbum.push(cover, out);
  }
  const tools = [
    editForm,
    h('h3', { text: 'Share and organise' }),
    h('div', { class: 'actions wrap' }, share, albumOpen, inAlbum),
    albumForm,
    albumStatus.el,
    h('div', { class: 'actions danger-zone' }, del),
  ];

  // --- showing a photo ---------------------------------------------------------------------
  function row(name, value) {
    return value ? [h('dt', { text: name }), h('dd', { text: value })] : [];
  }

  function draw() {
    title.textContent = img.title || 'Untitled photo';
    counter.textContent = `${i + 1} of ${grid.items.length}${grid.hasMore() ? '+' : ''}`;
    const camera = img.camera ? `${img.camera.make} ${img.camera.model}`.trim() : '';
    details.replaceChildren(
      ...row('Dimensions', `${img.width} × ${img.height}`),
      ...row('Size', formatBytes(img.bytes)),
      ...row('Format', img.format.toUpperCase()),
      ...row('Taken', img.taken_at ? formatDate(img.taken_at, true) : ''),
      ...row('Camera', camera),
      ...row('Visibility', VISIBILITY[img.visibility]),
      ...row('Uploaded', formatDate(img.created_at, true)),
      ...row('By', isOwner(img) || !img.owner ? '' : img.owner.username),
    );
    const mine = isOwner(img);
    tags.replaceChildren(
      ...img.tags.map((t) =>
        h('li', null, mine ? h('a', { class: 'chip', href: `/?tag=${encodeURIComponent(t)}`, text: `#${t}` }) : h('span', { class: 'chip', text: `#${t}` })),
      ),
    );
    owned.replaceChildren(...(mine ? tools : []));
    titleIn.value = img.title;
    tagsIn.value = img.tags.join(', ');
    visIn.value = img.visibility;
    // aria-disabled rather than disabled: a disabled button would drop the keyboard focus
    prev.setAttribute('aria-disabled', String(i === 0));
    next.setAttribute('aria-disabled', String(i === grid.items.length - 1 && !grid.hasMore()));
  }

  function show(k) {
    i = k;
    img = grid.items[i];
    const ph = placeholderUrl(img.placeholder);
    stage.style.backgroundImage = ph ? `url("${ph}")` : '';
    picture.classList.remove('loaded');
    const w = stage.clientWidth || window.innerWidth;
    const hgt = stage.clientHeight || window.innerHeight;
    picture.alt = altOf(img);
    picture.src = fittedUrl(cfg, img, w, hgt);
    saved.clear();
    albumStatus.clear();
    albumForm.hidden = true;
    albumOpen.setAttribute('aria-expanded', 'false');
    draw();
    // the next photo is likely wanted next
    const after = grid.items[i + 1];
    if (after) new Image().src = fittedUrl(cfg, after, w, hgt);
  }
  picture.addEventListener('load', () => {
    picture.classList.add('loaded');
    stage.style.backgroundImage = '';
  });

  async function step(d) {
    const k = i + d;
    if (k < 0) return;
    if (k >= grid.items.length && !(await grid.loadMore())) return;
    if (k < grid.items.length) show(k);
  }

  function dropCurrent(message) {
    grid.remove(img.id);
    announce(message);
    if (!grid.items.length) dialog.close();
    else show(Math.min(i, grid.items.length - 1));
  }

  async function remove() {
    const ok = await confirmBox({
      title: 'Delete this photo?',
      message: `“${img.title || 'Untitled photo'}” will be deleted for good, with its share links and its place in albums.`,
      confirm: 'Delete',
      danger: true,
    });
    if (!ok) return;
    try {
      await api('DELETE', `/api/v1/images/${img.id}`);
      window.dispatchEvent(new CustomEvent('kho:changed'));
      dropCurrent('Photo deleted.');
    } catch (err) {
      albumStatus.error(`Cannot delete: ${err.message}.`);
    }
  }

  prev.addEventListener('click', () => step(-1));
  next.addEventListener('click', () => step(1));
  close.addEventListener('click', () => dialog.close());
  dialog.addEventListener('keydown', (e) => {
    if (typing(e.target) || e.altKey || e.ctrlKey || e.metaKey) return;
    if (e.key === 'ArrowRight') {
      e.preventDefault();
      step(1);
    } else if (e.key === 'ArrowLeft') {
      e.preventDefault();
      step(-1);
    }
  });
  const leave = () => dialog.open && dialog.close();
  window.addEventListener('kho:navigated', leave);

  openModal(dialog, () => {
    window.removeEventListener('kho:navigated', leave);
    // back to the tile of the photo seen last
    return img && grid.el.querySelector(`button.tile[data-id="${img.id}"]`);
  });
  show(i);
  close.focus();
  return dialog;
}

// A shared photo's big view outside any dialog (the /s/ page of a single photo).
export function fittedPicture(cfg, img, maxW, maxH) {
  const picture = h('img', { class: 'shared-img', alt: altOf(img), src: fittedUrl(cfg, img, maxW, maxH) });
  const ph = placeholderUrl(img.placeholder);
  const frame = h('div', { class: 'shared-frame' }, picture);
  if (ph) frame.style.backgroundImage = `url("${ph}")`;
  picture.addEventListener('load', () => {
    frame.style.backgroundImage = '';
  });
  frame.append(h('a', { class: 'btn ghost small', href: variantUrl(img, {}), text: 'Open the original' }));
  return frame;
}
