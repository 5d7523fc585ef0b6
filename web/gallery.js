// Photo grids: lazy-loaded square thumbnails with a srcset from the allow-listed variant sizes,
// the ThumbHash placeholder until each arrives, and infinite scroll over keyset pages. Also the
// two pages that are little more than a grid: your photos (with uploads and the tag filter)
// and explore.
import { api, config, qs, sizesBetween, variantUrl } from './api.js';
import { session } from './auth.js';
import { navigate } from './router.js';
import { placeholderUrl } from './thumbhash.js';
import { altOf, announce, formatBytes, formatCount, h } from './ui.js';
import { uploader } from './upload.js';
import { openViewer } from './viewer.js';

const PAGE = 48;
// CSS widths of a tile (see .grid in style.css), for the browser's pick from srcset
const TILE_SIZES = '(max-width: 560px) 50vw, (max-width: 900px) 33vw, 240px';

// One tile's <img>: square cover crops at every allow-listed size a tile may need. The 256
// crop is the thumb preset made at upload, so the common case is already on disk.
function thumbImage(cfg, img) {
  const sizes = sizesBetween(cfg, 128, 800);
  const el = h('img', {
    alt: altOf(img),
    loading: 'lazy',
    decoding: 'async',
    width: 256,
    height: 256,
  });
  if (sizes.length) {
    el.sizes = TILE_SIZES;
    el.srcset = sizes.map((s) => `${variantUrl(img, { w: s, h: s, fit: 'cover' })} ${s}w`).join(', ');
  }
  el.src = variantUrl(img, { p: 'thumb' });
  return el;
}

// A square frame that shows img's placeholder until its thumbnail has loaded.
export function thumbFrame(cfg, img, cls = 'thumb') {
  const frame = h('span', { class: cls });
  const ph = placeholderUrl(img.placeholder);
  if (ph) frame.style.backgroundImage = `url("${ph}")`;
  const el = thumbImage(cfg, img);
  const done = () => {
    frame.classList.add('loaded');
    frame.style.backgroundImage = '';
  };
  el.addEventListener('load', done, { once: true });
  el.addEventListener('error', () => frame.classList.add('broken'), { once: true });
  frame.append(el);
  if (el.complete && el.naturalWidth) done();
  return frame;
}

// A grid over pages from load(cursor) -> {items, next_cursor}.
//   viewer: options for openViewer (album, share) when a tile is activated
//   select: tiles are toggles instead (the photo picker); grid.selected() lists the chosen ids
//   empty: what to say when there is nothing
//   onChange(items): photos were loaded, added, changed or removed
export async function createGrid({ load, viewer = {}, select = false, empty = 'No photos yet.', onChange = () => {} }) {
  const cfg = await config();
  const items = [];
  const chosen = new Set();
  let cursor = null;
  let more = true;
  let busy = false;
  const list = h('ul', { class: 'grid', role: 'list' });
  const status = h('p', { class: 'grid-status', role: 'status' });
  const moreBtn = h('button', { class: 'btn more', type: 'button', text: 'Load more photos', hidden: true });
  const sentinel = h('div', { class: 'sentinel', 'aria-hidden': 'true' });
  const el = h('div', { class: 'grid-wrap' }, list, sentinel, status, moreBtn);
  const listeners = new Set();

  function tile(img) {
    const frame = thumbFrame(cfg, img);
    const btn = h('button', { class: 'tile', type: 'button', 'data-id': img.id }, frame);
    if (select) {
      btn.setAttribute('aria-pressed', String(chosen.has(img.id)));
      btn.append(h('span', { class: 'check', 'aria-hidden': 'true', text: '✓' }));
    }
    btn.addEventListener('click', () => {
      if (select) {
        if (chosen.has(img.id)) chosen.delete(img.id);
        else chosen.add(img.id);
        btn.setAttribute('aria-pressed', String(chosen.has(img.id)));
        listeners.forEach((fn) => fn());
        return;
      }
      const i = items.findIndex((x) => x.id === img.id);
      if (i >= 0) openViewer({ ...viewer, grid, index: i });
    });
    return h('li', { 'data-id': img.id }, btn);
  }

  function sayCount() {
    onChange(items);
    if (!items.length && !more) status.textContent = empty;
    else if (!more) status.textContent = items.length > PAGE ? `All ${formatCount(items.length)} photos shown.` : '';
    else status.textContent = '';
  }

  async function next() {
    if (busy || !more) return;
    busy = true;
    status.textContent = 'Loading…';
    try {
      const page = await load(cursor);
      const fresh = page.items.filter((x) => !items.some((y) => y.id === x.id));
      items.push(...fresh);
      list.append(...fresh.map(tile));
      cursor = page.next_cursor;
      more = cursor !== null && cursor !== undefined;
      sayCount();
    } catch (e) {
      status.textContent = `Cannot load photos: ${e.message}.`;
      more = false;
    } finally {
      busy = false;
      moreBtn.hidden = !more;
    }
    // a short page leaves the sentinel in view: the observer will not fire again for it
    if (more && nearViewport()) next();
  }

  function nearViewport() {
    const r = sentinel.getBoundingClientRect();
    return el.isConnected && r.top < window.innerHeight + 800;
  }

  const io = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) next();
  }, { rootMargin: '800px 0px' });
  io.observe(sentinel);
  moreBtn.addEventListener('click', () => next());

  const grid = {
    el,
    items,
    cfg,
    hasMore() {
      return more;
    },
    // More photos, for the viewer stepping past the last loaded one; false when there are none.
    async loadMore() {
      if (!more) return false;
      const before = items.length;
      await next();
      return items.length > before;
    },
    prepend(img) {
      if (items.some((x) => x.id === img.id)) return;
      items.unshift(img);
      list.prepend(tile(img));
      sayCount();
    },
    update(img) {
      const i = items.findIndex((x) => x.id === img.id);
      if (i < 0) return;
      items[i] = img;
      const old = list.querySelector(`li[data-id="${img.id}"]`);
      if (old) old.replaceWith(tile(img));
      onChange(items);
    },
    remove(id) {
      const i = items.findIndex((x) => x.id === id);
      if (i >= 0) items.splice(i, 1);
      const li = list.querySelector(`li[data-id="${id}"]`);
      if (li) li.remove();
      sayCount();
    },
    selected() {
      return [...chosen];
    },
    onSelect(fn) {
      listeners.add(fn);
    },
    destroy() {
      io.disconnect();
    },
  };
  await next();
  return grid;
}

// The tags of your photos seen unfiltered, with their counts: a filtered view still offers
// the other tags to switch to.
let knownTags = new Map();

// The distinct tags of items, most used first.
function tagsOf(items) {
  const n = new Map();
  for (const img of items) for (const t of img.tags) n.set(t, (n.get(t) || 0) + 1);
  return n;
}

function usageText(me) {
  const q = me.quota || null;
  const bytes = q && q.bytes ? `${formatBytes(me.bytes_used)} of ${formatBytes(q.bytes)}` : formatBytes(me.bytes_used);
  const n = q && q.images ? `${formatCount(me.image_count)} of ${formatCount(q.images)} photos` : `${formatCount(me.image_count)} ${me.image_count === 1 ? 'photo' : 'photos'}`;
  return `${bytes}, ${n}`;
}

// "/": your photos, the upload area and the tag filter.
export async function homePage(ctx) {
  const tag = (ctx.query.get('tag') || '').trim().toLowerCase();
  document.title = tag ? `#${tag} · kho` : 'Your photos · kho';
  const usage = h('p', { class: 'sub', id: 'usage-line' });
  const refreshUsage = async () => {
    try {
      usage.textContent = usageText(await session.refresh());
    } catch {
      usage.textContent = '';
    }
  };
  refreshUsage();

  const filterInput = h('input', {
    type: 'search',
    id: 'tag-filter',
    name: 'tag',
    value: tag,
    placeholder: 'e.g. beach',
    autocomplete: 'off',
    spellcheck: 'false',
  });
  const filter = h(
    'form',
    {
      class: 'filter',
      role: 'search',
      onsubmit: (e) => {
        e.preventDefault();
        const t = filterInput.value.trim().toLowerCase();
        navigate(t ? `/${qs({ tag: t })}` : '/');
      },
    },
    h('label', { for: 'tag-filter', text: 'Filter by tag' }),
    filterInput,
    h('button', { class: 'btn', type: 'submit', text: 'Filter' }),
    tag ? h('a', { class: 'btn ghost', href: '/', text: 'Show all' }) : null,
  );
  const chips = h('ul', { class: 'chips', 'aria-label': 'Your tags' });

  const drawChips = (items) => {
    let counts = tagsOf(items);
    if (tag) counts = new Map([...knownTags, ...counts]);
    else knownTags = counts;
    chips.replaceChildren(
      ...[...counts.entries()]
        .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
        .map(([t]) => t)
        .slice(0, 24)
        .map((t) =>
          h('li', null, h('a', { class: t === tag ? 'chip on' : 'chip', href: `/${qs({ tag: t })}`, 'aria-current': t === tag ? 'true' : false, text: `#${t}` })),
        ),
    );
  };
  const up = uploader();
  const grid = await createGrid({
    load: (cursor) => api('GET', `/api/v1/images${qs({ limit: PAGE, cursor, tag })}`),
    empty: tag ? `No photos tagged “${tag}”.` : 'No photos yet. Drop some here, or choose them with the button above.',
    onChange: drawChips,
  });

  const onUploaded = (e) => {
    const img = e.detail;
    if (!tag || img.tags.includes(tag)) grid.prepend(img);
    refreshUsage();
  };
  window.addEventListener('kho:uploaded', onUploaded);
  window.addEventListener('kho:changed', refreshUsage);
  ctx.onCleanup(() => {
    window.removeEventListener('kho:uploaded', onUploaded);
    window.removeEventListener('kho:changed', refreshUsage);
    grid.destroy();
    up.detach();
  });

  ctx.root.append(
    h(
      'section',
      { class: 'page' },
      h('div', { class: 'page-head' }, h('h1', { text: tag ? `Tagged #${tag}` : 'Your photos' }), usage),
      up.attach(),
      h('div', { class: 'toolbar' }, filter),
      chips,
      grid.el,
    ),
  );
  if (tag) announce(`${grid.items.length} photos tagged ${tag}`);
}

// "/explore": public photos of everyone.
export async function explorePage(ctx) {
  document.title = 'Explore · kho';
  const grid = await createGrid({
    load: (cursor) => api('GET', `/api/v1/explore${qs({ limit: PAGE, cursor })}`),
    empty: 'Nobody has shared a public photo yet.',
  });
  ctx.onCleanup(() => grid.destroy());
  ctx.root.append(
    h(
      'section',
      { class: 'page' },
      h('div', { class: 'page-head' }, h('h1', { text: 'Explore' }), h('p', { class: 'sub', text: 'Public photos from everyone here.' })),
      grid.el,
    ),
  );
}
