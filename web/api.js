// The client of kho's JSON API: fetch with the session cookie, the CSRF header on state
// changes, errors turned into ApiError with the server's own message; the server's client
// settings (/api/v1/config); and URLs of image variants.

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function cookie(name) {
  for (const part of document.cookie.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return '';
}

// The login's CSRF token, from its readable cookie; '' when logged out.
export function csrfToken() {
  return cookie('kho_csrf');
}

// The session cookie is HttpOnly; its readable twin says whether there is one.
export function hasSession() {
  return csrfToken() !== '';
}

// Read an error body into an ApiError (the body may be absent or not JSON).
export function errorFrom(status, text) {
  let code = `http_${status}`;
  let message = `the server answered ${status}`;
  try {
    const e = JSON.parse(text).error;
    if (e && e.code) code = e.code;
    if (e && e.message) message = e.message;
  } catch {
    if (status === 0) message = 'the server cannot be reached';
  }
  return new ApiError(status, code, message);
}

// method path [JSON body] -> the parsed answer (null for 204); throws ApiError.
export async function api(method, path, body) {
  const headers = {};
  const opts = { method, headers, credentials: 'same-origin' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  if (method !== 'GET' && method !== 'HEAD' && hasSession()) headers['X-CSRF-Token'] = csrfToken();
  let res;
  try {
    res = await fetch(path, opts);
  } catch {
    throw new ApiError(0, 'network', 'the server cannot be reached');
  }
  if (res.status === 204) return null;
  const text = await res.text();
  if (!res.ok) throw errorFrom(res.status, text);
  return text ? JSON.parse(text) : null;
}

// A query string from an object, skipping empty values.
export function qs(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

let configPromise = null;
// The server's client settings, fetched once per page load.
export function config() {
  if (!configPromise)
    configPromise = api('GET', '/api/v1/config').catch((e) => {
      configPromise = null;
      throw e;
    });
  return configPromise;
}

// The URL of a variant of img: its own URL (which may carry ?share=) plus parameters.
export function variantUrl(img, params) {
  const extra = new URLSearchParams(params).toString();
  if (!extra) return img.url;
  return img.url + (img.url.includes('?') ? '&' : '?') + extra;
}

// Allow-listed sizes in [lo, hi], ascending.
export function sizesBetween(cfg, lo, hi) {
  return [...cfg.variant_sizes].filter((s) => s >= lo && s <= hi).sort((a, b) => a - b);
}

const BROWSER_FORMATS = ['jpeg', 'png', 'webp', 'gif', 'avif'];

// The URL for showing img at cssWidth x cssHeight CSS pixels: the smallest allow-listed width
// that covers the box at this screen's density, or the original when that is no larger (and a
// browser can show it: HEIF and TIFF always go through a variant).
export function fittedUrl(cfg, img, cssWidth, cssHeight) {
  const dpr = window.devicePixelRatio || 1;
  const shown = Math.min(cssWidth, (cssHeight * img.width) / img.height);
  const need = Math.ceil(shown * dpr);
  const sizes = [...cfg.variant_sizes].sort((a, b) => a - b);
  const w = sizes.find((s) => s >= need) || sizes[sizes.length - 1];
  if (BROWSER_FORMATS.includes(img.format) && (!w || w >= img.width)) return img.url;
  return variantUrl(img, w ? { w } : { fmt: 'jpeg' });
}
