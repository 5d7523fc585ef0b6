// kho's web UI: the entry module. It learns who is logged in, keeps the header's navigation in
// step with that, and maps each path to its page.
import { accountPage } from './account.js';
import { albumPage, albumsPage } from './albums.js';
import { authPage, session } from './auth.js';
import { explorePage, homePage } from './gallery.js';
import { route, start } from './router.js';
import { sharedPage } from './share.js';
import { h } from './ui.js';

// Pages that need a login show the login screen instead, and come back after it.
function needsLogin(page) {
  return (ctx) => (session.user ? page(ctx) : authPage(ctx));
}

route('/', needsLogin(homePage));
route('/explore', explorePage);
route('/albums', needsLogin(albumsPage));
route('/albums/:id', needsLogin(albumPage));
route('/s/:token', sharedPage);
route('/account', needsLogin(accountPage));

const LINKS = [
  ['/', 'Photos', true],
  ['/albums', 'Albums', true],
  ['/explore', 'Explore', false],
  ['/account', 'Account', true],
];

// The header's links for the current user, the current page's marked for screen readers.
function drawNav() {
  const nav = document.getElementById('nav');
  const here = location.pathname;
  const items = LINKS.filter(([, , auth]) => !auth || session.user).map(([href, text]) => {
    const current = href === '/' ? here === '/' : here === href || here.startsWith(`${href}/`);
    return h('li', null, h('a', { href, 'aria-current': current ? 'page' : false, text }));
  });
  if (!session.user) items.push(h('li', null, h('a', { href: '/', class: 'btn small primary', 'aria-current': here === '/' ? 'page' : false, text: 'Log in' })));
  nav.replaceChildren(h('ul', null, items));
  const who = document.getElementById('who');
  who.textContent = session.user ? session.user.username : '';
}

async function main() {
  try {
    await session.load();
  } catch {
    session.user = null; // the server is unreachable; the pages will say so
  }
  window.addEventListener('kho:session', drawNav);
  window.addEventListener('kho:navigated', drawNav);
  await start(document.getElementById('main'));
}

main();
