// "/account": storage used against the quota, API keys for scripts (listed, made, revoked; a
// new key is shown once), and logging out.
import { api } from './api.js';
import { session } from './auth.js';
import { refresh } from './router.js';
import { confirmBox, copyText, field, formatBytes, formatCount, formatDate, h, statusLine } from './ui.js';

// One usage line with a meter when there is a limit: "1.2 GiB of 10 GiB".
function usageRow(label, used, limit, format) {
  const text = limit ? `${format(used)} of ${format(limit)}` : `${format(used)} (no limit)`;
  const row = h('div', { class: 'usage-row' }, h('span', { class: 'usage-label', text: label }), h('span', { class: 'usage-value', text }));
  if (limit) {
    const meter = h('meter', { min: 0, max: limit, value: Math.min(used, limit), low: limit * 0.8, high: limit * 0.95, optimum: 0, 'aria-label': `${label} used` });
    row.append(meter);
  }
  return row;
}

function usage(me) {
  const q = me.quota || {};
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'usage-h' },
    h('h2', { id: 'usage-h', text: 'Storage' }),
    usageRow('Space', me.bytes_used, q.bytes, formatBytes),
    usageRow('Photos', me.image_count, q.images, formatCount),
    me.quota ? null : h('p', { class: 'sub', text: 'This server sets no quota.' }),
  );
}

function keysSection() {
  const status = statusLine();
  const body = h('tbody');
  const table = h(
    'table',
    { class: 'keys' },
    h('caption', { class: 'sr-only', text: 'Your API keys' }),
    h('thead', null, h('tr', null, ['Name', 'Access', 'Key starts', 'Created', 'Last used', 'Actions'].map((t) => h('th', { scope: 'col', text: t })))),
    body,
  );
  const empty = h('p', { class: 'sub', text: 'No keys yet.' });
  const name = h('input', { type: 'text', name: 'name', required: true, maxlength: 64, autocomplete: 'off' });
  const scope = h(
    'select',
    { name: 'scope' },
    h('option', { value: 'read', text: 'Read only' }),
    h('option', { value: 'read-write', text: 'Read and write' }),
  );
  const fresh = h('div', { class: 'new-key', hidden: true });
  const form = h(
    'form',
    { class: 'inline' },
    field('Key name', name),
    field('Access', scope),
    h('button', { class: 'btn primary', type: 'submit', text: 'Create key' }),
  );

  function row(k) {
    const revoke = h('button', { class: 'btn small danger', type: 'button', text: 'Revoke', 'aria-label': `Revoke key ${k.name}` });
    const tr = h(
      'tr',
      null,
      h('td', { text: k.name }),
      h('td', { text: k.scope === 'read' ? 'Read only' : 'Read and write' }),
      h('td', null, h('code', { text: k.prefix })),
      h('td', { text: formatDate(k.created_at) }),
      h('td', { text: k.last_used_at ? formatDate(k.last_used_at) : 'Never' }),
      h('td', null, revoke),
    );
    revoke.addEventListener('click', async () => {
      const ok = await confirmBox({
        title: `Revoke “${k.name}”?`,
        message: 'Scripts using this key will stop working at once.',
        confirm: 'Revoke',
        danger: true,
      });
      if (!ok) return;
      try {
        await api('DELETE', `/api/v1/keys/${k.id}`);
        tr.remove();
        empty.hidden = body.children.length > 0;
        status.ok(`Key “${k.name}” revoked.`);
      } catch (err) {
        status.error(`Cannot revoke: ${err.message}.`);
      }
    });
    return tr;
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    status.clear();
    try {
      const k = await api('POST', '/api/v1/keys', { name: name.value.trim(), scope: scope.value });
      name.value = '';
      body.prepend(row(k));
      empty.hidden = true;
      const value = h('input', { type: 'text', readonly: true, value: k.key, class: 'link-url', name: 'key' });
      const copy = h('button', { class: 'btn', type: 'button', text: 'Copy key' });
      copy.addEventListener('click', async () => {
        if (await copyText(value.value, value)) status.ok('Key copied.');
      });
      fresh.replaceChildren(
        h('p', { class: 'warning', text: 'Copy this key now: it is shown only once.' }),
        field(`Key “${k.name}”`, value),
        h('div', { class: 'actions' }, copy),
      );
      fresh.hidden = false;
      value.focus();
      value.select();
    } catch (err) {
      status.error(`Cannot create a key: ${err.message}.`);
    }
  });

  const section = h(
    'section',
    { class: 'card', 'aria-labelledby': 'keys-h' },
    h('h2', { id: 'keys-h', text: 'API keys' }),
    h('p', { class: 'sub', text: 'For scripts and the kho command: send one as “Authorization: Bearer KEY”.' }),
    form,
    fresh,
    status.el,
    table,
    empty,
  );
  api('GET', '/api/v1/keys')
    .then((page) => {
      body.append(...page.items.map(row));
      empty.hidden = page.items.length > 0;
    })
    .catch((err) => {
      table.hidden = true;
      empty.hidden = true;
      status.error(`API keys are unavailable: ${err.message}.`);
    });
  return section;
}

// "/account"
export async function accountPage(ctx) {
  document.title = 'Account · kho';
  const me = await session.refresh();
  const out = h('button', { class: 'btn', type: 'button', text: 'Log out' });
  out.addEventListener('click', async () => {
    await session.logout();
    history.replaceState(null, '', '/');
    await refresh();
  });
  ctx.root.append(
    h(
      'section',
      { class: 'page narrow' },
      h('div', { class: 'page-head' }, h('h1', { text: 'Account' }), h('p', { class: 'sub', text: `Logged in as ${me.username}, since ${formatDate(me.created_at)}.` })),
      usage(me),
      keysSection(),
      h('section', { class: 'card', 'aria-labelledby': 'out-h' }, h('h2', { id: 'out-h', text: 'Session' }), out),
    ),
  );
}
