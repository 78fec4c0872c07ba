/**
 * 1-D resampling of `src` (length n) to length m, as float weights applied along one axis.
 * Shrinking uses area averaging (each output pixel is the mean of the source interval it covers,
 * fractional overlaps included), which is what keeps thin strokes anti-aliased instead of aliased.
 * Enlarging uses linear interpolation between pixel centres (area averaging would give blocks).
 */
import type { RgbaImage } from './types.js';

interface Tap {
  readonly index: number;
  readonly weight: number;
}

function taps(n: number, m: number): Tap[][] {
  const out: Tap[][] = [];
  const ratio = n / m;
  if (m <= n) {
    for (let i = 0; i < m; i++) {
      const a = i * ratio;
      const b = (i + 1) * ratio;
      const row: Tap[] = [];
      for (let j = Math.floor(a); j < Math.ceil(b) && j < n; j++) {
        const overlap = Math.min(b, j + 1) - Math.max(a, j);
        if (overlap > 1e-9) row.push({ index: j, weight: overlap / ratio });
      }
      out.push(row);
    }
  } else {
    for (let i = 0; i < m; i++) {
      const x = Math.min(n - 1, Math.max(0, (i + 0.5) * ratio - 0.5));
      const j = Math.floor(x);
      const f = x - j;
      out.push(
        j + 1 < n && f > 0
          ? [
              { index: j, weight: 1 - f },
              { index: j + 1, weight: f },
            ]
          : [{ index: j, weight: 1 }],
      );
    }
  }
  return out;
}

/**
 * Resamples the window (x0, y0, w, h) of a w0-wide float raster to outW x outH, separably
 * (rows first, then columns). Returns floats in the input's scale.
 */
export function resampleWindow(
  src: ArrayLike<number>,
  srcWidth: number,
  x0: number,
  y0: number,
  w: number,
  h: number,
  outW: number,
  outH: number,
): Float64Array {
  const tx = taps(w, outW);
  const ty = taps(h, outH);
  const rows = new Float64Array(h * outW);
  for (let y = 0; y < h; y++) {
    const base = (y0 + y) * srcWidth + x0;
    for (let i = 0; i < outW; i++) {
      let s = 0;
      for (const t of tx[i]) s += src[base + t.index] * t.weight;
      rows[y * outW + i] = s;
    }
  }
  const out = new Float64Array(outW * outH);
  for (let j = 0; j < outH; j++) {
    for (let i = 0; i < outW; i++) {
      let s = 0;
      for (const t of ty[j]) s += rows[t.index * outW + i] * t.weight;
      out[j * outW + i] = s;
    }
  }
  return out;
}

/** An RGBA raster enlarged `factor` times in each direction by linear interpolation (channel by channel). */
export function enlargeRgba(image: RgbaImage, factor: number): RgbaImage {
  const { width, height } = image;
  const w = width * factor;
  const h = height * factor;
  const channel = new Float64Array(width * height);
  const data = new Uint8Array(w * h * 4);
  for (let c = 0; c < 4; c++) {
    for (let i = 0; i < channel.length; i++) channel[i] = image.data[i * 4 + c];
    const big = resampleWindow(channel, width, 0, 0, width, height, w, h);
    for (let i = 0; i < big.length; i++) data[i * 4 + c] = Math.round(big[i]);
  }
  return { width: w, height: h, data };
}
