// Browser tests of kho's web UI: starts the real kho binary on a free loopback port with a
// fresh data directory, drives Debian's headless Chromium through playwright-core, and runs
// the flows of a person using it (sign up, upload, browse, edit, albums, sharing, deletion),
// once at desktop size and once at phone size, with cheap accessibility checks on the way.
// Any console error or page error fails the test it happens in; a failing test leaves a
// screenshot in tests/browser/out/ (so do the main screens on every run, for people to look
// at). Ends with "N passed, N failed"; exit status 1 on failure.
//
// Usage: KHO_BIN=build/kho node tests/browser/run.mjs [-k SUBSTRING]...
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { chromium } from 'playwright-core';
import { a11yProblems } from './a11y.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const KHO_BIN = path.resolve(REPO, process.env.KHO_BIN || 'build/kho');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const OUT = path.join(HERE, 'out');
const PASSWORD = 'correct horse battery';
const MAX_UPLOAD = 4 * 1024 * 1024; // small, so the over-limit file is cheap to make
const TIMEOUT = 15000;

// --- test images: a tiny PNG encoder, so no binary fixtures are needed --------------------

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

// An RGB PNG of w x h whose pixels are colour(x, y) -> [r, g, b].
function png(w, h, colour) {
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const [r, g, b] = colour(x, y);
      const at = y * (w * 3 + 1) + 1 + x * 3;
      raw[at] = r;
      raw[at + 1] = g;
      raw[at + 2] = b;
    }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit, truecolour, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// Three distinct photos-to-be: a sky fading into a horizon, a sun, in different light.
function testImages(tag) {
  const skies = [
    [[244, 162, 97], [42, 157, 143]],
    [[142, 202, 230], [33, 158, 188]],
    [[255, 209, 102], [6, 214, 160]],
  ];
  const mix = (a, b, t) => a.map((v, k) => Math.round(v + (b[k] - v) * t));
  return skies.map(([top, ground], i) => {
    const w = 480 - i * 80;
    const h = 320 + i * 40;
    const sun = [w * (0.3 + 0.2 * i), h * 0.35, h * 0.12];
    return {
      name: `${tag}-photo-${i + 1}.png`,
      mimeType: 'image/png',
      buffer: png(w, h, (x, y) => {
        if (Math.hypot(x - sun[0], y - sun[1]) < sun[2]) return [255, 244, 214];
        const horizon = h * 0.62 + Math.sin(x / 40 + i) * 10;
        return y < horizon ? mix(top, [255, 255, 255], y / horizon / 2) : mix(ground, [20, 40, 30], (y - horizon) / (h - horizon));
      }),
    };
  });
}

// --- the server -----------------------------------------------------------------------------

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startKho() {
  if (!fs.existsSync(KHO_BIN)) throw new Error(`no kho binary at ${KHO_BIN} (set KHO_BIN)`);
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'kho-browser-'));
  const port = await freePort();
  const logPath = path.join(data, 'server.log');
  const log = fs.openSync(logPath, 'a');
  const args = ['server', '--listen', `127.0.0.1:${port}`, '--data', path.join(data, 'data'), '--threads', '2', '--workers', '4',
    '--argon2-mem', '8M', '--argon2-ops', '1', '--max-upload-bytes', String(MAX_UPLOAD), '--access-log', 'off'];
  const proc = spawn(KHO_BIN, args, { stdio: ['ignore', log, log] });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`kho exited with ${proc.exitCode}: ${fs.readFileSync(logPath, 'utf8')}`);
    try {
      if ((await fetch(`${base}/readyz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`kho did not become ready: ${fs.readFileSync(logPath, 'utf8')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { proc, base, data, logPath };
}

async function stopKho(kho) {
  if (kho.proc.exitCode === null) {
    const exited = new Promise((r) => kho.proc.once('exit', r));
    process.kill(kho.proc.pid, 'SIGTERM');
    const timer = setTimeout(() => process.kill(kho.proc.pid, 'SIGKILL'), 10000);
    await exited;
    clearTimeout(timer);
  }
  fs.rmSync(kho.data, { recursive: true, force: true });
}

// --- harness --------------------------------------------------------------------------------

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

// Console errors and uncaught exceptions of every page of a context, drained per test.
function watch(context, errors) {
  const attach = (page) => {
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console: ${m.text()} (${m.location().url || 'page'})`);
    });
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  };
  context.on('page', attach);
  context.pages().forEach(attach);
}

async function checkA11y(page, where) {
  const problems = await page.evaluate(a11yProblems);
  assert(problems.length === 0, `accessibility problems on ${where}:\n    ${problems.join('\n    ')}`);
}

// The same checks with the system in dark mode, which has colours of its own.
async function checkA11yDark(page, where) {
  await page.emulateMedia({ colorScheme: 'dark' });
  try {
    await page.waitForTimeout(300); // let the colour transitions end
    await checkA11y(page, `${where} (dark)`);
  } finally {
    await page.emulateMedia({ colorScheme: 'light' });
  }
}

async function shot(page, name) {
  fs.mkdirSync(OUT, { recursive: true });
  const file = path.join(OUT, `${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  return file;
}

// All images in the locator have decoded (naturalWidth > 0).
async function imagesLoaded(page, selector, count) {
  await page.waitForFunction(
    ([sel, n]) => {
      const imgs = [...document.querySelectorAll(sel)];
      return imgs.length === n && imgs.every((i) => i.complete && i.naturalWidth > 0);
    },
    [selector, count],
    { timeout: TIMEOUT },
  );
}

// Wait for what success shows, or fail at once with the error message the UI shows instead.
async function settled(page, success) {
  const failure = page.locator('.form-status.error:not(:empty)');
  for (const deadline = Date.now() + TIMEOUT; ; ) {
    if (await success.isVisible()) return;
    if (await failure.count()) throw new Error(`the UI says: ${await failure.first().textContent()}`);
    assert(Date.now() < deadline, `timed out waiting for ${success}`);
    await page.waitForTimeout(50);
  }
}

const tileIds = (page) => page.$$eval('.grid li', (lis) => lis.map((li) => li.dataset.id));

async function openViewer(page, index) {
  await page.locator('.grid .tile').nth(index).click();
  const viewer = page.locator('dialog.viewer[open]');
  await viewer.waitFor();
  await page.waitForFunction(() => {
    const i = document.querySelector('dialog.viewer .viewer-img');
    return i && i.complete && i.naturalWidth > 0;
  }, null, { timeout: TIMEOUT });
  return viewer;
}

async function home(page) {
  await page.goto('/');
  await page.locator('h1', { hasText: 'Your photos' }).waitFor();
  await page.locator('.grid-wrap').waitFor();
}

// --- the flow -------------------------------------------------------------------------------
// Tests run in order and build on each other's state (the account, its photos), as a person
// would; each starts from a page load.

const flow = [
  ['sign up', async ({ page, s }) => {
    await page.goto('/');
    await page.getByRole('button', { name: 'New here? Create an account' }).click();
    await page.locator('h1', { hasText: 'Create your account' }).waitFor();
    await checkA11y(page, 'the sign-up screen');
    await page.getByLabel('Username').fill(s.username);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.locator('h1', { hasText: 'Your photos' }).waitFor({ timeout: TIMEOUT });
    await page.locator('#who', { hasText: s.username }).waitFor();
    const csrf = (await page.context().cookies()).find((c) => c.name === 'kho_csrf');
    assert(csrf && csrf.value, 'no CSRF cookie after sign-up');
  }],

  ['upload 3 images with progress', async ({ page, s }) => {
    await home(page);
    // record every state each upload row passes through
    await page.evaluate(() => {
      window.seenStates = {};
      new MutationObserver((ms) => {
        for (const m of ms) {
          const li = m.target.closest ? m.target.closest('.up-item') : null;
          if (!li) continue;
          const name = li.querySelector('.up-name').textContent;
          (window.seenStates[name] ||= new Set()).add(li.dataset.state);
        }
      }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ['data-state'], childList: true });
    });
    await page.locator('#upload-input').setInputFiles(s.images);
    await page.locator('.up-item progress').nth(2).waitFor();
    assert((await page.locator('.up-item progress').count()) === 3, 'not one progress bar per file');
    await page.locator('.up-item[data-state="done"]').nth(2).waitFor({ timeout: TIMEOUT });
    const bars = await page.$$eval('.up-item progress', (ps) => ps.map((p) => p.value / p.max));
    assert(bars.every((v) => v === 1), `progress bars not full: ${bars}`);
    assert((await page.locator('#upload-total').evaluate((p) => p.value / p.max)) === 1, 'overall progress not full');
    const seen = await page.evaluate(() => Object.fromEntries(Object.entries(window.seenStates).map(([k, v]) => [k, [...v]])));
    for (const img of s.images) {
      const states = seen[img.name] || [];
      assert(states.includes('uploading') && states.includes('done'), `${img.name} went through ${states}`);
    }
    await page.locator('.up-summary', { hasText: '3 of 3 uploaded' }).waitFor();
    await page.locator('.grid li').nth(2).waitFor();
    s.ids = await tileIds(page);
    assert(s.ids.length === 3, `grid has ${s.ids.length} photos after uploading 3`);
  }],

  ['thumbnails load', async ({ page, s }) => {
    await home(page);
    await imagesLoaded(page, '.grid img', 3);
    const imgs = await page.$$eval('.grid img', (is) => is.map((i) => ({ alt: i.alt, srcset: i.srcset, src: i.src, lazy: i.loading })));
    for (const i of imgs) {
      assert(i.lazy === 'lazy', 'thumbnail not lazy-loaded');
      assert(/\?w=256&h=256&fit=cover 256w/.test(i.srcset), `srcset lacks the allow-listed sizes: ${i.srcset}`);
      assert(i.alt.startsWith(`${s.tag}-photo-`), `alt text is not the title: ${i.alt}`);
    }
    // "40 KiB, 3 photos", or with quotas "40 KiB of 10 GiB, 3 of 100,000 photos"
    await page.locator('#usage-line', { hasText: /^[\d.]+ KiB( of [\d.]+ GiB)?, 3( of [\d,]+)? photos$/ }).waitFor();
    await checkA11y(page, 'the gallery');
    await shot(page, `${s.label}-gallery`);
    await checkA11yDark(page, 'the gallery');
  }],

  ['viewer steps with the keyboard', async ({ page, s }) => {
    await home(page);
    const viewer = await openViewer(page, 0);
    const img = viewer.locator('.viewer-img');
    const counter = viewer.locator('.counter');
    assert((await counter.textContent()) === '1 of 3', `counter ${await counter.textContent()}`);
    const first = await img.getAttribute('src');
    const details = await viewer.locator('.details').textContent();
    assert(/Dimensions.*×/.test(details) && /Size/.test(details) && /PNG/.test(details), `details: ${details}`);
    await checkA11y(page, 'the viewer');
    await shot(page, `${s.label}-viewer`);
    await checkA11yDark(page, 'the viewer');
    await page.keyboard.press('ArrowRight');
    await counter.filter({ hasText: '2 of 3' }).waitFor();
    const second = await img.getAttribute('src');
    assert(second !== first, 'ArrowRight did not change the image');
    await page.keyboard.press('ArrowRight');
    await counter.filter({ hasText: '3 of 3' }).waitFor();
    await page.keyboard.press('ArrowLeft');
    await counter.filter({ hasText: '2 of 3' }).waitFor();
    assert((await img.getAttribute('src')) === second, 'ArrowLeft did not go back');
    await page.waitForFunction(() => document.querySelector('.viewer-img').naturalWidth > 0);
    // Tab and Shift+Tab stay inside the dialog
    for (const key of [...Array(25).fill('Tab'), ...Array(5).fill('Shift+Tab')]) {
      await page.keyboard.press(key);
      assert(await page.evaluate(() => document.activeElement.closest('dialog.viewer') !== null), `${key} left the viewer`);
    }
    await page.keyboard.press('Escape');
    await viewer.waitFor({ state: 'detached' });
    const focused = await page.evaluate(() => document.activeElement.className);
    assert(focused === 'tile', `focus not restored to a tile after closing, but on '${focused}'`);
  }],

  ['infinite scroll loads the next page', async ({ page }) => {
    // pages of 48 would take 49 uploads: serve a long first page of copies of the real
    // photos (same URLs, new ids) and a second page after its cursor
    await home(page);
    const real = await page.evaluate(async () => (await (await fetch('/api/v1/images')).json()).items);
    const asked = [];
    const list = /\/api\/v1\/images\?/;
    await page.route(list, (route) => {
      const url = new URL(route.request().url());
      if (route.request().method() !== 'GET') return route.fallback();
      asked.push(url.search);
      const cursor = url.searchParams.get('cursor');
      const items = cursor
        ? real
        : Array.from({ length: 48 }, (_, i) => ({ ...real[i % real.length], id: String(9000000000 + i), title: `copy ${i}` }));
      return route.fulfill({ contentType: 'application/json', body: JSON.stringify({ items, next_cursor: cursor ? null : '123' }) });
    });
    try {
      await home(page);
      await page.waitForFunction(() => document.querySelectorAll('.grid li').length === 48);
      await page.locator('.grid li').last().scrollIntoViewIfNeeded();
      await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
      await page.waitForFunction((n) => document.querySelectorAll('.grid li').length === n, 48 + real.length);
      assert(asked.length === 2 && asked[1].includes('cursor=123'), `pages asked: ${asked}`);
      await page.locator('.grid-status', { hasText: `All ${48 + real.length} photos shown.` }).waitFor();
    } finally {
      await page.unroute(list);
    }
  }],

  ['edit tags and filter by one', async ({ page }) => {
    await home(page);
    const ids = await tileIds(page);
    const viewer = await openViewer(page, 0);
    const save = async (tags) => {
      await viewer.getByRole('textbox', { name: 'Tags' }).fill(tags);
      await viewer.getByRole('button', { name: 'Save changes' }).click();
      await viewer.locator('.form-status.ok', { hasText: 'Saved.' }).waitFor();
    };
    await save('Sea, holiday');
    await viewer.locator('.chips a', { hasText: '#sea' }).waitFor();
    await viewer.getByRole('button', { name: 'Next photo' }).click();
    await viewer.locator('.counter', { hasText: '2 of 3' }).waitFor();
    await save('forest');
    await page.keyboard.press('Escape');
    await viewer.waitFor({ state: 'detached' });
    // the filter field
    await page.getByLabel('Filter by tag').fill('sea');
    await page.getByRole('button', { name: 'Filter', exact: true }).click();
    await page.locator('h1', { hasText: 'Tagged #sea' }).waitFor();
    await page.waitForFunction(() => document.querySelectorAll('.grid li').length === 1);
    assert(new URL(page.url()).search === '?tag=sea', `url ${page.url()}`);
    assert((await tileIds(page))[0] === ids[0], 'the filter shows the wrong photo');
    // a clickable tag
    await page.locator('.chips a', { hasText: '#forest' }).click();
    await page.locator('h1', { hasText: 'Tagged #forest' }).waitFor();
    await page.waitForFunction((id) => {
      const lis = document.querySelectorAll('.grid li');
      return lis.length === 1 && lis[0].dataset.id === id;
    }, ids[1]);
    const current = page.locator('.chips a[aria-current="true"]');
    assert((await current.textContent()) === '#forest', 'the chosen tag is not marked as current');
    assert((await current.getAttribute('class')) === 'chip on', 'the chosen tag is not highlighted');
    await page.getByRole('link', { name: 'Show all' }).click();
    await page.waitForFunction(() => document.querySelectorAll('.grid li').length === 3);
  }],

  ['make an album and add photos', async ({ page, s }) => {
    await page.goto('/');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Albums' }).click();
    await page.locator('h1', { hasText: 'Albums' }).waitFor();
    await page.getByLabel('New album').fill('Summer trip');
    await page.getByRole('button', { name: 'Create album' }).click();
    await settled(page, page.locator('.album-card', { hasText: 'Summer trip' }));
    await checkA11y(page, 'the albums page');
    await page.locator('.album-card a', { hasText: 'Summer trip' }).click();
    await page.locator('h1', { hasText: 'Summer trip' }).waitFor();
    s.albumUrl = page.url();
    await page.getByRole('button', { name: 'Add photos…' }).click();
    const picker = page.locator('dialog.picker[open]');
    await picker.locator('.tile').nth(2).waitFor();
    await picker.locator('.tile').nth(0).click();
    await picker.locator('.tile').nth(1).click();
    await checkA11y(page, 'the photo picker');
    await shot(page, `${s.label}-picker`);
    await picker.getByRole('button', { name: 'Add 2 photos' }).click();
    await picker.waitFor({ state: 'detached' });
    await page.locator('.sub', { hasText: '2 photos' }).waitFor({ timeout: TIMEOUT });
    await page.waitForFunction(() => document.querySelectorAll('.album-grid .grid li').length === 2);
    await imagesLoaded(page, '.album-grid .grid img', 2);
    // rename it
    await page.getByRole('button', { name: 'Rename' }).click();
    await page.getByLabel('Album title').fill('Summer trip 2026');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await settled(page, page.locator('h1', { hasText: 'Summer trip 2026' }));
    // the second photo becomes the cover, in the list of albums too
    const viewer = await openViewer(page, 1);
    const coverId = await page.locator('.album-grid .grid li').nth(1).getAttribute('data-id');
    await viewer.getByRole('button', { name: 'Use as album cover' }).click();
    await settled(page, viewer.locator('.form-status.ok', { hasText: 'album cover' }));
    await page.keyboard.press('Escape');
    await page.locator('.sub', { hasText: 'cover chosen' }).waitFor();
    await shot(page, `${s.label}-album`);
    await page.getByRole('link', { name: '← Albums' }).click();
    const card = page.locator('.album-card', { hasText: 'Summer trip 2026' });
    await card.waitFor();
    await page.waitForFunction(() => {
      const i = document.querySelector('.album-card img');
      return i && i.complete && i.naturalWidth > 0;
    });
    assert((await card.locator('img').getAttribute('src')).includes(`/i/${coverId}?`), 'the album card does not show the cover');
    assert((await card.locator('.album-count').textContent()) === '2 photos', 'the album card count is wrong');
    await shot(page, `${s.label}-albums`);
  }],

  ['share a link and open it logged out', async ({ page, browser, s, watchContext }) => {
    await home(page);
    const viewer = await openViewer(page, 0);
    const title = await viewer.locator('#viewer-title').textContent();
    await viewer.getByRole('button', { name: 'Share link…' }).click();
    const dialog = page.locator('dialog.share[open]');
    await dialog.getByLabel('Link expires').selectOption({ label: 'In 1 day' });
    await dialog.getByRole('button', { name: 'Create link' }).click();
    const url = dialog.locator('input.link-url');
    await settled(page, url);
    const link = await url.inputValue();
    assert(link.startsWith(`${s.base}/s/`), `the link is ${link}`);
    await checkA11y(page, 'the share dialog');
    await shot(page, `${s.label}-share`);
    const anon = await browser.newContext({ viewport: page.viewportSize(), baseURL: s.base });
    watchContext(anon);
    try {
      assert((await anon.cookies()).length === 0, 'the fresh context has cookies');
      const other = await anon.newPage();
      await other.goto(link);
      await other.locator('h1', { hasText: title }).waitFor({ timeout: TIMEOUT });
      await imagesLoaded(other, 'img.shared-img', 1);
      assert(/share=/.test(await other.locator('img.shared-img').getAttribute('src')), 'the shared image is not loaded through the link');
      await checkA11y(other, 'a shared photo');
      await shot(other, `${s.label}-shared`);
    } finally {
      await anon.close();
    }
  }],

  ['share an album and open it logged out', async ({ page, browser, s, watchContext }) => {
    assert(s.albumUrl, 'no album was made by the test before');
    await page.goto(s.albumUrl);
    await page.getByRole('button', { name: 'Share album…' }).click();
    const dialog = page.locator('dialog.share[open]');
    await dialog.getByRole('button', { name: 'Create link' }).click(); // never expires
    const url = dialog.locator('input.link-url');
    await settled(page, url);
    const link = await url.inputValue();
    const anon = await browser.newContext({ viewport: page.viewportSize(), baseURL: s.base });
    watchContext(anon);
    try {
      const other = await anon.newPage();
      await other.goto(link);
      await other.locator('h1', { hasText: 'Summer trip 2026' }).waitFor({ timeout: TIMEOUT });
      await imagesLoaded(other, '.grid img', 2);
      // the viewer works for visitors too, without the owner's tools
      const viewer = await openViewer(other, 0);
      assert((await viewer.locator('.owner-tools button').count()) === 0, 'a visitor sees the owner tools');
      await other.keyboard.press('ArrowRight');
      await viewer.locator('.counter', { hasText: '2 of 2' }).waitFor();
      await checkA11y(other, 'a shared album');
    } finally {
      await anon.close();
    }
  }],

  ['remove a photo from the album, then delete the album', async ({ page, s }) => {
    assert(s.albumUrl, 'no album was made by the test before');
    await page.goto(s.albumUrl);
    await page.locator('.album-grid .grid li').nth(1).waitFor();
    const viewer = await openViewer(page, 0);
    await viewer.getByRole('button', { name: 'Remove from album' }).click();
    await page.waitForFunction(() => document.querySelectorAll('.album-grid .grid li').length === 1);
    await page.locator('.sub', { hasText: '1 photo' }).waitFor();
    await page.keyboard.press('Escape');
    await page.getByRole('button', { name: 'Delete album…' }).click();
    await page.locator('dialog.box[open]').getByRole('button', { name: 'Delete album' }).click();
    await page.locator('h1', { hasText: 'Albums' }).waitFor();
    await page.locator('.grid-status', { hasText: 'No albums yet' }).waitFor();
    await home(page);
    await page.waitForFunction((n) => document.querySelectorAll('.grid li').length === n, s.ids.length);
  }],

  ['delete a photo', async ({ page, s }) => {
    await home(page);
    const before = await tileIds(page);
    const viewer = await openViewer(page, before.length - 1);
    await viewer.getByRole('button', { name: 'Delete photo…' }).click();
    const confirm = page.locator('dialog.box[open]', { hasText: 'Delete this photo?' });
    await confirm.getByRole('button', { name: 'Delete', exact: true }).click();
    await page.waitForFunction((n) => document.querySelectorAll('.grid li').length === n, before.length - 1, { timeout: TIMEOUT });
    const after = await tileIds(page);
    assert(!after.includes(before[before.length - 1]), 'the deleted photo is still in the grid');
    await page.keyboard.press('Escape');
    await home(page);
    await page.waitForFunction((n) => document.querySelectorAll('.grid li').length === n, before.length - 1);
    s.ids = after;
  }],

  ['explore shows a public photo', async ({ page, s }) => {
    await home(page);
    const viewer = await openViewer(page, 0);
    await viewer.getByLabel('Visibility').selectOption('public');
    await viewer.getByRole('button', { name: 'Save changes' }).click();
    await viewer.locator('.form-status.ok', { hasText: 'Saved.' }).waitFor();
    await page.keyboard.press('Escape');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Explore' }).click();
    await page.locator('h1', { hasText: 'Explore' }).waitFor();
    const tile = page.locator(`.grid li[data-id="${s.ids[0]}"] img`);
    await tile.waitFor({ timeout: TIMEOUT });
    await page.waitForFunction((id) => {
      const i = document.querySelector(`.grid li[data-id="${id}"] img`);
      return i && i.complete && i.naturalWidth > 0;
    }, s.ids[0], { timeout: TIMEOUT });
    await checkA11y(page, 'explore');
  }],

  ['a failed upload can be retried, a running one cancelled', async ({ page, s, allowConsole }) => {
    await home(page);
    const [a, b] = ['retry', 'cancel'].map((what, i) => ({
      name: `${s.tag}-${what}.png`,
      mimeType: 'image/png',
      buffer: png(200, 150, (x, y) => [40 + i * 90, (x + y) & 255, 160]),
    }));
    const uploads = /\/api\/v1\/images(\?|$)/;
    const row = (f) => page.locator('.up-item', { has: page.locator('.up-name', { hasText: f.name }) });
    // the server refuses once; Retry sends the file again
    allowConsole(/status of 503/);
    await page.route(uploads, (route) =>
      route.request().method() === 'POST'
        ? route.fulfill({ status: 503, contentType: 'application/json', body: '{"error":{"code":"unavailable","message":"the server is busy, retry later"}}' })
        : route.fallback());
    await page.locator('#upload-input').setInputFiles([a]);
    await row(a).locator('.up-msg', { hasText: 'Failed: the server is busy, retry later' }).waitFor();
    await page.unroute(uploads);
    await page.getByRole('button', { name: `Retry ${a.name}` }).click();
    await row(a).and(page.locator('[data-state="done"]')).waitFor({ timeout: TIMEOUT });
    // an upload the server has not answered yet is cancelled
    let held = null;
    await page.route(uploads, (route) => {
      if (route.request().method() !== 'POST') return route.fallback();
      held = route;
      return undefined;
    });
    await page.locator('#upload-input').setInputFiles([b]);
    await page.waitForFunction((name) => [...document.querySelectorAll('.up-item')].some(
      (li) => li.querySelector('.up-name').textContent === name && ['uploading', 'processing'].includes(li.dataset.state)), b.name);
    await page.getByRole('button', { name: `Cancel ${b.name}` }).click();
    await row(b).and(page.locator('[data-state="cancelled"]')).waitFor();
    await page.getByRole('button', { name: `Retry ${b.name}` }).waitFor();
    if (held) await held.abort().catch(() => {});
    await page.unroute(uploads);
    await home(page);
    s.ids = await tileIds(page);
    assert(s.ids.length === 3, `${s.ids.length} photos after one retried and one cancelled upload`);
  }],

  ['a bad share link gets a friendly page', async ({ browser, page, s, watchContext, allowConsole }) => {
    allowConsole(/status of 404/);
    const anon = await browser.newContext({ viewport: page.viewportSize(), baseURL: s.base });
    watchContext(anon);
    try {
      const other = await anon.newPage();
      await other.goto('/s/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
      await other.locator('h1', { hasText: 'This link does not work' }).waitFor();
      await checkA11y(other, 'a bad share link');
    } finally {
      await anon.close();
    }
  }],

  ['rejected files get clear messages', async ({ page }) => {
    await home(page);
    // dropped, like a drag from the desktop: a text file named like a photo, and one too large
    await page.evaluate((max) => {
      const dt = new DataTransfer();
      dt.items.add(new File(['just some words, not pixels'], 'x.jpg', { type: 'image/jpeg' }));
      dt.items.add(new File([new Uint8Array(max + 1024 * 1024)], 'huge.png', { type: 'image/png' }));
      const zone = document.querySelector('.drop');
      zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
      zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, MAX_UPLOAD);
    const row = (name) => page.locator('.up-item', { has: page.locator('.up-name', { hasText: name }) });
    await row('x.jpg').locator('.up-msg', { hasText: 'not an image' }).waitFor();
    await row('huge.png').locator('.up-msg', { hasText: 'too large (5 MiB, limit 4 MiB)' }).waitFor();
    assert((await row('x.jpg').getAttribute('data-state')) === 'rejected', 'x.jpg not rejected');
    await page.locator('#live', { hasText: 'x.jpg: not an image' }).waitFor();
  }],

  ['account shows usage and manages API keys', async ({ page, s }) => {
    await page.goto('/account');
    await page.locator('h1', { hasText: 'Account' }).waitFor();
    await page.locator('.usage-row', { hasText: 'Photos' }).locator('.usage-value', { hasText: String(s.ids.length) }).waitFor();
    await page.getByLabel('Key name').fill('backup script');
    await page.getByLabel('Access', { exact: true }).selectOption('read');
    await page.getByRole('button', { name: 'Create key' }).click();
    const key = page.locator('.new-key input');
    await settled(page, key);
    assert(/^kho_[0-9a-f]{64}$/.test(await key.inputValue()), 'the new key is not shown');
    await page.locator('table.keys td', { hasText: 'backup script' }).waitFor();
    await checkA11y(page, 'the account page');
    await page.getByRole('button', { name: 'Revoke key backup script' }).click();
    await page.locator('dialog.box[open]').getByRole('button', { name: 'Revoke' }).click();
    await page.locator('.form-status.ok', { hasText: 'revoked' }).waitFor();
  }],

  ['log out, then log in again', async ({ page, s, allowConsole }) => {
    allowConsole(/status of 401/); // the wrong password, on purpose
    allowConsole(/status of 404 .*\/api\/v1\/keys/); // keys have their own test above
    await page.goto('/account');
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.locator('h1', { hasText: 'Log in' }).waitFor();
    assert(!(await page.context().cookies()).some((c) => c.name === 'kho_session'), 'the session cookie outlived the logout');
    await checkA11y(page, 'the login screen');
    await page.getByLabel('Username').fill(s.username);
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.locator('[role=alert]', { hasText: 'Wrong username or password.' }).waitFor();
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.locator('h1', { hasText: 'Your photos' }).waitFor();
    await page.waitForFunction((n) => document.querySelectorAll('.grid li').length === n, s.ids.length);
  }],
];

// Independent of the flow: the placeholder decoder against the server's encoder.
async function thumbhashTest({ page, s }) {
  const api = async (method, p, body, token, type = 'application/json') => {
    const res = await fetch(s.base + p, {
      method,
      headers: { 'Content-Type': type, ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body: type === 'application/json' && body ? JSON.stringify(body) : body,
    });
    assert(res.ok, `${method} ${p}: ${res.status}`);
    return res.json();
  };
  const name = `th_${Date.now().toString(36)}`;
  await api('POST', '/api/v1/users', { username: name, password: PASSWORD });
  const { token } = await api('POST', '/api/v1/sessions', { username: name, password: PASSWORD });
  let img = await api('POST', '/api/v1/images', png(160, 120, () => [200, 40, 40]), token, 'image/png');
  for (let i = 0; i < 100 && !img.placeholder; i++) {
    await new Promise((r) => setTimeout(r, 50));
    img = await api('GET', `/api/v1/images/${img.id}`, null, token);
  }
  assert(img.placeholder, 'the server made no placeholder');
  await page.goto('/explore');
  const got = await page.evaluate(async (hash) => {
    const { decode } = await import('/static/thumbhash.js');
    const d = decode(hash);
    const sum = [0, 0, 0, 0];
    for (let i = 0; i < d.rgba.length; i += 4) for (let c = 0; c < 4; c++) sum[c] += d.rgba[i + c];
    return { width: d.width, height: d.height, mean: sum.map((v) => v / (d.rgba.length / 4)) };
  }, img.placeholder);
  // the server hashes the thumb preset, a square crop
  assert(got.width === 32 && got.height === 32, `the square thumb decoded to ${got.width}x${got.height}`);
  const want = [200, 40, 40, 255];
  got.mean.forEach((v, c) => assert(Math.abs(v - want[c]) < 16, `channel ${c}: ${v.toFixed(1)}, want about ${want[c]}`));
}

// The accessibility checks themselves find what they are meant to find.
async function a11ySelfTest({ page }) {
  await page.goto('/explore');
  await page.locator('h1', { hasText: 'Explore' }).waitFor();
  await checkA11y(page, 'explore');
  const problems = await page.evaluate((fn) => {
    const bad = document.createElement('div');
    bad.innerHTML = '<p class="probe">faint</p><input type="text"><button></button><img src="/static/favicon.svg">';
    bad.querySelector('.probe').style.color = '#c8c8c8';
    document.querySelector('main').append(bad);
    // eslint-disable-next-line no-new-func
    return new Function(`return (${fn})()`)();
  }, a11yProblems.toString());
  const want = [/^contrast .*"faint"/, /^no accessible name: <input>/, /^no accessible name: <button>/, /^img without alt/];
  for (const re of want) assert(problems.some((p) => re.test(p)), `the checks missed ${re}: ${problems}`);
  assert(problems.length === want.length, `unexpected problems: ${problems}`);
}

// --- main -----------------------------------------------------------------------------------

async function main() {
  const only = [];
  for (let i = 2; i < process.argv.length; i++) if (process.argv[i] === '-k') only.push(process.argv[++i]);
  const wanted = (name) => only.length === 0 || only.some((k) => name.includes(k));
  let passed = 0;
  let failed = 0;
  const t0 = Date.now();
  const kho = await startKho();
  // playwright gives every launch a new, empty user-data-dir of its own
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  console.log(`kho browser tests: ${KHO_BIN} at ${kho.base}, chromium ${browser.version()}`);
  const runs = [
    { label: 'desktop', viewport: { width: 1280, height: 800 } },
    { label: 'phone', viewport: { width: 390, height: 844 } },
  ];
  try {
    for (const run of runs) {
      const context = await browser.newContext({ viewport: run.viewport, baseURL: kho.base });
      context.setDefaultTimeout(TIMEOUT);
      const errors = [];
      const allowed = [];
      const watchContext = (c) => watch(c, errors);
      const allowConsole = (re) => allowed.push(re);
      watchContext(context);
      const page = await context.newPage();
      const tag = `${run.label}${Date.now().toString(36).slice(-4)}`;
      const s = { label: run.label, tag, base: kho.base, username: `${tag}_user`, images: testImages(tag) };
      const tests = [...flow];
      // tests that do not depend on the screen size run once
      if (run === runs[0])
        tests.push(['thumbhash placeholder decodes like the server encodes', thumbhashTest], ['accessibility checks catch problems', a11ySelfTest]);
      for (const [name, fn] of tests) {
        const full = `${run.label}: ${name}`;
        if (!wanted(full)) continue;
        errors.length = 0;
        allowed.length = 0;
        const start = Date.now();
        let err = null;
        try {
          await fn({ page, browser, s, watchContext, allowConsole });
          await page.waitForTimeout(50); // let late console messages arrive
        } catch (e) {
          err = e;
        }
        // a test may expect the browser to log the failed requests it provokes
        const unexpected = errors.filter((e) => !allowed.some((re) => re.test(e)));
        if (!err && unexpected.length) err = new Error(`errors in the browser:\n    ${unexpected.join('\n    ')}`);
        const secs = ((Date.now() - start) / 1000).toFixed(1);
        if (!err) {
          passed++;
          console.log(`ok   ${full} (${secs}s)`);
          continue;
        }
        failed++;
        const file = await shot(page, `FAIL-${run.label}-${name.replace(/\W+/g, '-')}`).catch(() => 'none');
        console.log(`FAIL ${full} (${secs}s)\n     ${err.message.split('\n').join('\n     ')}\n     screenshot: ${file}`);
        await page.goto('about:blank').catch(() => {});
      }
      await context.close();
    }
  } finally {
    await browser.close();
    await stopKho(kho);
  }
  console.log(`browser tests took ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

main().catch((e) => {
  console.log(`browser tests could not run: ${e.stack || e}`);
  console.log('0 passed, 1 failed');
  process.exitCode = 1;
});
