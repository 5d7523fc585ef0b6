// ThumbHash decoding (Evan Wallace's format, as src/image/placeholder.c encodes it): a few
// bytes of low-frequency DCT terms for luminance (L), two chroma channels (P, Q) and optional
// alpha become a blurry preview of about 32 pixels on its long side, painted into a data URL
// that a thumbnail shows until its real image arrives.

function bytesOf(base64) {
  const bin = atob(base64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// The header: DC terms, scales, the luminance term counts and whether there is alpha.
function header(hash) {
  const h24 = hash[0] | (hash[1] << 8) | (hash[2] << 16);
  const h16 = hash[3] | (hash[4] << 8);
  const alpha = (h24 >> 23) & 1;
  const landscape = (h16 >> 15) & 1;
  const limit = alpha ? 5 : 7; // the long side always gets the full count
  const short = h16 & 7;
  return {
    l: (h24 & 63) / 63,
    p: ((h24 >> 6) & 63) / 31.5 - 1,
    q: ((h24 >> 12) & 63) / 31.5 - 1,
    lScale: ((h24 >> 18) & 31) / 31,
    pScale: ((h16 >> 3) & 63) / 63,
    qScale: ((h16 >> 9) & 63) / 63,
    alpha,
    a: alpha ? (hash[5] & 15) / 15 : 1,
    aScale: alpha ? (hash[5] >> 4) / 15 : 0,
    lx: landscape ? limit : short,
    ly: landscape ? short : limit,
  };
}

// Reads the AC terms, 4 bits each, low nibble first, in channel order.
class Nibbles {
  constructor(hash, start) {
    this.hash = hash;
    this.start = start;
    this.at = 0;
  }

  // The terms of an nx x ny channel's triangle (cx * ny < nx * (ny - cy), DC excluded),
  // mapped back from [0, 15] to [-scale, scale].
  channel(nx, ny, scale) {
    const terms = [];
    for (let cy = 0; cy < ny; cy++)
      for (let cx = cy ? 0 : 1; cx * ny < nx * (ny - cy); cx++) {
        const byte = this.hash[this.start + (this.at >> 1)] || 0;
        const v = (byte >> ((this.at & 1) * 4)) & 15;
        this.at++;
        terms.push((v / 7.5 - 1) * scale);
      }
    return terms;
  }
}

// Sum of a channel's terms at one pixel, given the cosines of each frequency there.
function sample(dc, terms, nx, ny, fx, fy) {
  let v = dc;
  let j = 0;
  for (let cy = 0; cy < ny; cy++) {
    const fy2 = fy[cy] * 2;
    for (let cx = cy ? 0 : 1; cx * ny < nx * (ny - cy); cx++) v += terms[j++] * fx[cx] * fy2;
  }
  return v;
}

const clamp = (v) => Math.max(0, Math.min(255, Math.round(255 * Math.min(1, v))));

// {width, height, rgba: Uint8ClampedArray} of the preview a base64 ThumbHash describes.
export function decode(base64) {
  const hash = bytesOf(base64);
  if (hash.length < 5) throw new Error('thumbhash too short');
  const hd = header(hash);
  if (hd.lx < 1 || hd.ly < 1) throw new Error('thumbhash header invalid');
  const lx = Math.max(3, hd.lx);
  const ly = Math.max(3, hd.ly);
  const bits = new Nibbles(hash, hd.alpha ? 6 : 5);
  const lTerms = bits.channel(lx, ly, hd.lScale);
  // chroma is stored conservatively; the format boosts it by a quarter on the way back
  const pTerms = bits.channel(3, 3, hd.pScale * 1.25);
  const qTerms = bits.channel(3, 3, hd.qScale * 1.25);
  const aTerms = hd.alpha ? bits.channel(5, 5, hd.aScale) : null;

  const ratio = hd.lx / hd.ly;
  const width = Math.max(1, Math.round(ratio > 1 ? 32 : 32 * ratio));
  const height = Math.max(1, Math.round(ratio > 1 ? 32 / ratio : 32));
  const rgba = new Uint8ClampedArray(width * height * 4);
  const nfx = Math.max(lx, hd.alpha ? 5 : 3);
  const nfy = Math.max(ly, hd.alpha ? 5 : 3);
  const fx = new Float64Array(nfx);
  const fy = new Float64Array(nfy);
  for (let y = 0, i = 0; y < height; y++) {
    for (let c = 0; c < nfy; c++) fy[c] = Math.cos((Math.PI / height) * (y + 0.5) * c);
    for (let x = 0; x < width; x++, i += 4) {
      for (let c = 0; c < nfx; c++) fx[c] = Math.cos((Math.PI / width) * (x + 0.5) * c);
      const l = sample(hd.l, lTerms, lx, ly, fx, fy);
      const p = sample(hd.p, pTerms, 3, 3, fx, fy);
      const q = sample(hd.q, qTerms, 3, 3, fx, fy);
      const a = aTerms ? sample(hd.a, aTerms, 5, 5, fx, fy) : 1;
      // back from l = (r + g + b) / 3, p = (r + g) / 2 - b, q = r - g
      const b = l - (2 / 3) * p;
      const r = (3 * l - b + q) / 2;
      rgba[i] = clamp(r);
      rgba[i + 1] = clamp(r - q);
      rgba[i + 2] = clamp(b);
      rgba[i + 3] = clamp(a);
    }
  }
  return { width, height, rgba };
}

const cache = new Map();

// A PNG data URL of the preview, or '' when the hash is missing or malformed. Cached.
export function placeholderUrl(base64) {
  if (!base64) return '';
  if (cache.has(base64)) return cache.get(base64);
  let url = '';
  try {
    const { width, height, rgba } = decode(base64);
    const canvas = document.createElement('canvas');
    canvas.width = width;
    canvas.height = height;
    canvas.getContext('2d').putImageData(new ImageData(rgba, width, height), 0, 0);
    url = canvas.toDataURL('image/png');
  } catch {
    url = '';
  }
  cache.set(base64, url);
  return url;
}
