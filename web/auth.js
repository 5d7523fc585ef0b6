// Who is logged in, and the screens to log in and sign up. Login sets an HttpOnly session
// cookie and a readable CSRF cookie (see api.js); sign-up makes the account, then logs in.
import { api, hasSession } from './api.js';
import { refresh } from './router.js';
import { field, h, statusLine } from './ui.js';

// The logged-in user (GET /api/v1/me: id, username, usage, quota) or null.
export const session = {
  user: null,

  // Learn who is logged in. Without the CSRF cookie there is no session, and asking would
  // only earn a 401.
  async load() {
    if (!hasSession()) {
      this.user = null;
      return null;
    }
    try {
      this.user = await api('GET', '/api/v1/me');
    } catch (err) {
      if (err.status !== 401) throw err;
      this.user = null;
    }
    window.dispatchEvent(new CustomEvent('kho:session'));
    return this.user;
  },

  // The user with fresh usage figures.
  async refresh() {
    return (await this.load()) || {};
  },

  async login(username, password) {
    await api('POST', '/api/v1/sessions', { username, password });
    return this.load();
  },

  async logout() {
    try {
      await api('DELETE', '/api/v1/sessions/current');
    } finally {
      this.user = null;
      window.dispatchEvent(new CustomEvent('kho:session'));
    }
  },
};

function credentialsForm({ id, submitText, newPassword, onSubmit }) {
  const user = h('input', {
    type: 'text',
    name: 'username',
    required: true,
    autocomplete: 'username',
    autocapitalize: 'none',
    spellcheck: 'false',
    minlength: 3,
    maxlength: 32,
    pattern: newPassword ? '[a-z0-9_\\-]{3,32}' : false,
  });
  const pass = h('input', {
    type: 'password',
    name: 'password',
    required: true,
    minlength: newPassword ? 8 : false,
    autocomplete: newPassword ? 'new-password' : 'current-password',
  });
  const status = statusLine();
  const button = h('button', { class: 'btn primary wide', type: 'submit', text: submitText });
  const form = h(
    'form',
    { class: 'auth-form', id },
    field('Username', user, newPassword ? '3 to 32 of a–z, 0–9, “_” and “-”.' : null),
    field('Password', pass, newPassword ? 'At least 8 characters.' : null),
    button,
    status.el,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    status.clear();
    button.disabled = true;
    try {
      await onSubmit(user.value.trim(), pass.value);
      pass.value = '';
      await refresh();
    } catch (err) {
      status.error(err.message.charAt(0).toUpperCase() + err.message.slice(1) + '.');
      button.disabled = false;
    }
  });
  return { form, focus: () => user.focus() };
}

// "/" when logged out: log in, or switch to signing up.
export function authPage(ctx) {
  document.title = 'Log in · kho';
  const login = credentialsForm({
    id: 'login-form',
    submitText: 'Log in',
    newPassword: false,
    onSubmit: (u, p) => session.login(u, p),
  });
  const signup = credentialsForm({
    id: 'signup-form',
    submitText: 'Create account',
    newPassword: true,
    onSubmit: async (u, p) => {
      await api('POST', '/api/v1/users', { username: u, password: p });
      await session.login(u, p);
    },
  });
  const heading = h('h1', { text: 'Log in' });
  const intro = h('p', { class: 'sub' });
  const swap = h('button', { class: 'btn link', type: 'button' });
  const holder = h('div');
  const show = (which) => {
    const up = which === 'signup';
    heading.textContent = up ? 'Create your account' : 'Log in';
    intro.textContent = up ? 'Pick a username and a password. That is all it takes.' : 'Welcome back.';
    swap.textContent = up ? 'I have an account: log in' : 'New here? Create an account';
    holder.replaceChildren(up ? signup.form : login.form);
    document.title = `${up ? 'Sign up' : 'Log in'} · kho`;
  };
  swap.addEventListener('click', () => {
    const toSignup = holder.firstChild === login.form;
    show(toSignup ? 'signup' : 'login');
    (toSignup ? signup : login).focus();
  });
  show(ctx.query.get('signup') !== null ? 'signup' : 'login');
  ctx.root.append(
    h(
      'section',
      { class: 'auth' },
      h(
        'div',
        { class: 'auth-intro' },
        h('p', { class: 'tagline', text: 'Your photos, kept well.' }),
        h('p', { text: 'Upload from any device, find them by tag, gather them in albums, and share a link when you want to.' }),
        h('p', null, h('a', { href: '/explore', text: 'See what people share publicly' })),
      ),
      h('div', { class: 'auth-card' }, heading, intro, holder, swap),
    ),
  );
}
