// Client-side routing on location.pathname: the server answers every app path with the same
// page, and this module picks the view, keeps history, and turns same-origin link clicks into
// navigations without a reload.

const routes = [];
let current = null; // {cleanups: []} of the view on screen
let renderRoot = null;
let seq = 0;

// pattern: '/albums/:id'; view(ctx) renders into ctx.root; ctx.params holds the captures,
// ctx.query the URLSearchParams, ctx.onCleanup(fn) registers teardown for when it is left.
export function route(pattern, view) {
  const names = [];
  const re = new RegExp(
    `^${pattern.replace(/:(\w+)/g, (_, n) => {
      names.push(n);
      return '([^/]+)';
    })}$`,
  );
  routes.push({ re, names, view });
}

function find(path) {
  for (const r of routes) {
    const m = r.re.exec(path);
    if (m) {
      const params = {};
      r.names.forEach((n, i) => {
        params[n] = decodeURIComponent(m[i + 1]);
      });
      return { view: r.view, params };
    }
  }
  return null;
}

// Render the view for the current location into root (a fresh container each time, so a
// slow view that finishes after the user has moved on writes into nothing visible).
async function render() {
  if (current) for (const fn of current.cleanups) fn();
  const mine = ++seq;
  const container = document.createElement('div');
  container.className = 'view';
  renderRoot.replaceChildren(container);
  const found = find(location.pathname);
  const ctx = {
    root: container,
    params: found ? found.params : {},
    query: new URLSearchParams(location.search),
    cleanups: [],
    onCleanup(fn) {
      this.cleanups.push(fn);
    },
    live() {
      return mine === seq;
    },
  };
  current = ctx;
  window.dispatchEvent(new CustomEvent('kho:navigated'));
  await (found ? found.view(ctx) : notFound(ctx));
  // move focus to the new page's heading, as a page load would, but not on the first load
  if (mine === seq && mine > 1) {
    const heading = container.querySelector('h1');
    if (heading) {
      heading.setAttribute('tabindex', '-1');
      heading.focus({ preventScroll: true });
    }
  }
}

function notFound(ctx) {
  const h1 = document.createElement('h1');
  h1.textContent = 'Page not found';
  const p = document.createElement('p');
  const a = document.createElement('a');
  a.href = '/';
  a.textContent = 'Back to your photos';
  p.append(a);
  ctx.root.append(h1, p);
  document.title = 'Not found · kho';
}

export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  window.scrollTo(0, 0);
  return render();
}

// Re-render the current location (after logging in or out).
export function refresh() {
  return render();
}

export function start(root) {
  renderRoot = root;
  window.addEventListener('popstate', () => render());
  document.addEventListener('click', (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey)
      return;
    const a = e.target.closest('a[href]');
    if (!a || a.target || a.hasAttribute('download') || a.origin !== location.origin) return;
    if (a.pathname.startsWith('/i/') || a.pathname.startsWith('/api/')) return;
    if (a.hash && a.pathname === location.pathname) return; // in-page, like the skip link
    e.preventDefault();
    navigate(a.pathname + a.search);
  });
  return render();
}
