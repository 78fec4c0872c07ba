/**
 * MNIST test digits rendered as paper scans and phone photos, seeded: the evaluation set of
 * `npm run bench:images` and the images of the paper tests. Every degradation a real scan or photo
 * of handwriting shows is one named recipe (DEGRADATIONS); strips put several digits in a row for
 * the line reader. Pure rendering into RGBA; JPEG encoding goes through sharp (encodeImage).
 */
import sharp from 'sharp';
import { mulberry32 } from '../../src/util/random.js';

export interface Rgba {
  width: number;
  height: number;
  data: Uint8Array;
}

export type Rand = () => number;

const uniform = (rand: Rand, a: number, b: number): number => a + (b - a) * rand();

function gauss(rand: Rand): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

/** A 28x28 ink image upscaled by k (bilinear), optionally rotated by `degrees` about its centre. */
export function scaleInk(digit: Uint8Array, k: number, degrees = 0): { ink: Float64Array; size: number } {
  const size = Math.ceil(28 * k);
  const ink = new Float64Array(size * size);
  const at = (x: number, y: number) => (x < 0 || y < 0 || x > 27 || y > 27 ? 0 : digit[y * 28 + x]);
  const c = size / 2;
  const cos = Math.cos((degrees * Math.PI) / 180);
  const sin = Math.sin((degrees * Math.PI) / 180);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const rx = cos * (x + 0.5 - c) + sin * (y + 0.5 - c) + c;
      const ry = -sin * (x + 0.5 - c) + cos * (y + 0.5 - c) + c;
      const sx = rx / k - 0.5;
      const sy = ry / k - 0.5;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      ink[y * size + x] =
        at(x0, y0) * (1 - fx) * (1 - fy) +
        at(x0 + 1, y0) * fx * (1 - fy) +
        at(x0, y0 + 1) * (1 - fx) * fy +
        at(x0 + 1, y0 + 1) * fx * fy;
    }
  }
  return { ink, size };
}

/** Grey-level morphology (max or min over a (2r+1)^2 square): thick and thin pens. */
function morph(ink: Float64Array, size: number, r: number, op: 'max' | 'min'): Float64Array {
  const out = new Float64Array(ink.length);
  const pick = op === 'max' ? Math.max : Math.min;
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      let v = op === 'max' ? 0 : 255;
      for (let dy = -r; dy <= r; dy++)
        for (let dx = -r; dx <= r; dx++) {
          const nx = x + dx;
          const ny = y + dy;
          const s = nx < 0 || ny < 0 || nx >= size || ny >= size ? 0 : ink[ny * size + nx];
          v = pick(v, s);
        }
      out[y * size + x] = v;
    }
  return out;
}

/** Bounding box of ink above 20 % of its peak. */
function inkBox(ink: Float64Array, size: number): { x0: number; y0: number; x1: number; y1: number } {
  let peak = 0;
  for (const v of ink) peak = Math.max(peak, v);
  let x0 = size;
  let y0 = size;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++)
      if (ink[y * size + x] > 0.2 * peak) {
        x0 = Math.min(x0, x);
        x1 = Math.max(x1, x);
        y0 = Math.min(y0, y);
        y1 = Math.max(y1, y);
      }
  return { x0, y0, x1, y1 };
}

/** A page: paper colour per pixel (RGB floats), the ink colour, and ink coverage (0..1) per pixel. */
export interface Page {
  width: number;
  height: number;
  paper: Float64Array;
  cover: Float64Array;
  inkRgb: [number, number, number];
}

export function blankPage(width: number, height: number, paperRgb: readonly number[]): Page {
  const paper = new Float64Array(width * height * 3);
  for (let i = 0; i < width * height; i++) paper.set(paperRgb, i * 3);
  return { width, height, paper, cover: new Float64Array(width * height), inkRgb: [20, 20, 30] };
}

/** Adds ink coverage (0..255 scale) at (ox, oy), clipped to the page. */
export function placeOnPage(page: Page, ink: Float64Array, size: number, ox: number, oy: number): void {
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const px = x + ox;
      const py = y + oy;
      if (px < 0 || py < 0 || px >= page.width || py >= page.height) continue;
      const p = py * page.width + px;
      page.cover[p] = Math.min(1, page.cover[p] + ink[y * size + x] / 255);
    }
}

/** Ruled (horizontal) or squared lines printed on the paper, `spacing` apart, anti-aliased, slightly tilted. */
export function drawLines(page: Page, spacing: number, grid: boolean, rand: Rand, thickness = 1.5): void {
  const rgb = [uniform(rand, 120, 170), uniform(rand, 150, 190), uniform(rand, 200, 230)];
  const tilt = Math.tan((uniform(rand, -2, 2) * Math.PI) / 180);
  const phase = uniform(rand, 0, spacing);
  const mix = (p: number, a: number) => {
    for (let c = 0; c < 3; c++) page.paper[p * 3 + c] = page.paper[p * 3 + c] * (1 - a) + rgb[c] * a;
  };
  const cover = (d: number) => Math.max(0, Math.min(1, thickness / 2 + 0.5 - Math.abs(d)));
  for (let y = 0; y < page.height; y++)
    for (let x = 0; x < page.width; x++) {
      const h = y - x * tilt - phase;
      const dh = h - Math.round(h / spacing) * spacing;
      let a = cover(dh);
      if (grid) {
        const v = x + y * tilt - phase;
        a = Math.max(a, cover(v - Math.round(v / spacing) * spacing));
      }
      if (a > 0) mix(y * page.width + x, 0.85 * a);
    }
}

/** A rectangle frame (form field) of the ink colour. */
export function drawFrame(page: Page, x0: number, y0: number, x1: number, y1: number, t: number): void {
  for (let y = y0; y <= y1; y++)
    for (let x = x0; x <= x1; x++) {
      if (x >= x0 + t && x <= x1 - t && y >= y0 + t && y <= y1 - t) continue;
      if (x >= 0 && y >= 0 && x < page.width && y < page.height) page.cover[y * page.width + x] = 1;
    }
}

/** Composes ink over paper, then light (multiplicative), noise and blur; returns RGBA. */
export function renderPage(
  page: Page,
  rand: Rand,
  opts: { light?: (x: number, y: number) => number; noise?: number; blur?: number } = {},
): Rgba {
  const { width, height } = page;
  let rgb: Float64Array = new Float64Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    const a = page.cover[p];
    const l = opts.light ? opts.light(p % width, Math.floor(p / width)) : 1;
    for (let c = 0; c < 3; c++) rgb[p * 3 + c] = (page.paper[p * 3 + c] * (1 - a) + page.inkRgb[c] * a) * l;
  }
  if (opts.blur) rgb = gaussianBlur(rgb, width, height, opts.blur);
  const data = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    const n = opts.noise ? gauss(rand) * opts.noise : 0;
    for (let c = 0; c < 3; c++) data[p * 4 + c] = Math.max(0, Math.min(255, Math.round(rgb[p * 3 + c] + n)));
    data[p * 4 + 3] = 255;
  }
  return { width, height, data };
}

function gaussianBlur(rgb: Float64Array, width: number, height: number, sigma: number): Float64Array {
  const r = Math.ceil(3 * sigma);
  const k = Array.from({ length: 2 * r + 1 }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)));
  const sum = k.reduce((a, b) => a + b, 0);
  const pass = (src: Float64Array, horizontal: boolean) => {
    const out = new Float64Array(src.length);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++)
        for (let c = 0; c < 3; c++) {
          let s = 0;
          for (let i = -r; i <= r; i++) {
            const nx = horizontal ? Math.min(width - 1, Math.max(0, x + i)) : x;
            const ny = horizontal ? y : Math.min(height - 1, Math.max(0, y + i));
            s += src[(ny * width + nx) * 3 + c] * k[i + r];
          }
          out[(y * width + x) * 3 + c] = s / sum;
        }
    return out;
  };
  return pass(pass(rgb, true), false);
}

/** Area-average downscale of an RGBA image to w x h (the scanner's own resampling). */
export function shrink(img: Rgba, w: number, h: number): Rgba {
  const data = new Uint8Array(w * h * 4);
  const sx = img.width / w;
  const sy = img.height / h;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < 4; c++) {
        let s = 0;
        let n = 0;
        for (let yy = Math.floor(y * sy); yy < Math.ceil((y + 1) * sy); yy++)
          for (let xx = Math.floor(x * sx); xx < Math.ceil((x + 1) * sx); xx++) {
            s += img.data[(yy * img.width + xx) * 4 + c];
            n++;
          }
        data[(y * w + x) * 4 + c] = Math.round(s / n);
      }
  return { width: w, height: h, data };
}

export interface Sample {
  /** The image as a file would carry it. */
  bytes: Uint8Array;
  label: string;
}

export async function encodeImage(img: Rgba, format: 'png' | 'jpeg', quality = 90): Promise<Uint8Array> {
  const s = sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length), {
    raw: { width: img.width, height: img.height, channels: 4 },
  });
  const out = format === 'png' ? await s.png().toBuffer() : await s.jpeg({ quality }).toBuffer();
  return new Uint8Array(out);
}

const PAPER_WHITE = [250, 250, 247];

/** The digit x`k` centred with a margin on white paper (the clean scan every degradation starts from). */
function plain(digit: Uint8Array, k: number, rand: Rand, margin = 0.5): { page: Page; size: number } {
  const { ink, size } = scaleInk(digit, k);
  const m = Math.round(size * margin);
  const page = blankPage(size + 2 * m, size + 2 * m, PAPER_WHITE);
  placeOnPage(page, ink, size, m + Math.round(uniform(rand, -3, 3)), m + Math.round(uniform(rand, -3, 3)));
  return { page, size };
}

type Recipe = (digit: Uint8Array, rand: Rand) => Promise<Uint8Array>;

const png = (img: Rgba) => encodeImage(img, 'png');

/** Smooth shadow: a half-plane at a random angle darkened to `depth`, with an edge `soft` px wide. */
function shadow(width: number, height: number, rand: Rand, depth: number, soft: number) {
  const a = uniform(rand, 0, 2 * Math.PI);
  const [dx, dy] = [Math.cos(a), Math.sin(a)];
  const c = uniform(rand, 0.3, 0.7);
  return (x: number, y: number) => {
    const d = (x - c * width) * dx + (y - c * height) * dy;
    return 1 - depth / (1 + Math.exp(-d / soft));
  };
}

/** Linear light fall-off from `hi` to `lo` across the image at a random angle. */
function gradient(width: number, height: number, rand: Rand, lo: number, hi: number) {
  const a = uniform(rand, 0, 2 * Math.PI);
  const [dx, dy] = [Math.cos(a), Math.sin(a)];
  const span = Math.abs(dx) * width + Math.abs(dy) * height;
  const x0 = dx < 0 ? width : 0;
  const y0 = dy < 0 ? height : 0;
  return (x: number, y: number) => hi - ((hi - lo) * ((x - x0) * dx + (y - y0) * dy)) / span;
}

/** A small scan where the digit fills its box (tight crop of the ink, then downscaled). */
async function smallScan(digit: Uint8Array, rand: Rand, side: number, binary: boolean): Promise<Uint8Array> {
  const { ink, size } = scaleInk(digit, 4);
  const b = inkBox(ink, size);
  const s = Math.max(b.x1 - b.x0, b.y1 - b.y0) + 1;
  const page = blankPage(s, s, PAPER_WHITE);
  const cx = Math.round((b.x0 + b.x1) / 2 - s / 2);
  const cy = Math.round((b.y0 + b.y1) / 2 - s / 2);
  placeOnPage(page, ink, size, -cx, -cy);
  const img = shrink(renderPage(page, rand), side, side);
  if (binary)
    for (let i = 0; i < img.data.length; i++) if (i % 4 !== 3) img.data[i] = img.data[i] < 160 ? 0 : 255;
  return png(img);
}

/** Every degradation of the evaluation set, by name. Sizes are in output pixels. */
export const DEGRADATIONS: Readonly<Record<string, Recipe>> = {
  clean: async (d, r) => png(renderPage(plain(d, 3, r).page, r)),
  'paper grey': async (d, r) => {
    const { page } = plain(d, 3, r);
    const g = uniform(r, 150, 210);
    for (let i = 0; i < page.paper.length; i += 3) page.paper.set([g, g * 0.98, g * 0.92], i);
    return png(renderPage(page, r, { noise: 4 }));
  },
  'light gradient': async (d, r) => {
    const { page } = plain(d, 3, r);
    return png(renderPage(page, r, { light: gradient(page.width, page.height, r, 0.45, 1) }));
  },
  shadow: async (d, r) => {
    const { page } = plain(d, 3, r);
    return png(renderPage(page, r, { light: shadow(page.width, page.height, r, 0.5, 6) }));
  },
  blur: async (d, r) => png(renderPage(plain(d, 3, r).page, r, { blur: uniform(r, 1.2, 2.2) })),
  'jpeg q30': async (d, r) => encodeImage(renderPage(plain(d, 3, r).page, r, { noise: 3 }), 'jpeg', 30),
  'jpeg q30-90': async (d, r) =>
    encodeImage(renderPage(plain(d, 3, r).page, r, { noise: 3 }), 'jpeg', Math.round(uniform(r, 30, 90))),
  noise: async (d, r) => png(renderPage(plain(d, 3, r).page, r, { noise: 25 })),
  'ruled lines': async (d, r) => {
    const { page, size } = plain(d, 3, r, 0.8);
    drawLines(page, size * uniform(r, 0.45, 0.7), false, r);
    return png(renderPage(page, r));
  },
  'squared paper': async (d, r) => {
    const { page, size } = plain(d, 3, r, 0.8);
    drawLines(page, size * uniform(r, 0.25, 0.4), true, r, 1);
    return png(renderPage(page, r));
  },
  frame: async (d, r) => {
    const { page } = plain(d, 3, r, 0.35);
    const t = Math.round(uniform(r, 1, 3));
    const m = Math.round(uniform(r, 0, 6));
    drawFrame(page, m, m, page.width - 1 - m, page.height - 1 - m, t);
    return png(renderPage(page, r));
  },
  'thin pen': async (d, r) => {
    const { ink, size } = scaleInk(d, 4);
    const page = blankPage(size * 2, size * 2, PAPER_WHITE);
    placeOnPage(page, morph(ink, size, 2, 'min'), size, size / 2, size / 2);
    return png(renderPage(page, r));
  },
  'thick pen': async (d, r) => {
    const { ink, size } = scaleInk(d, 4);
    const page = blankPage(size * 2, size * 2, PAPER_WHITE);
    placeOnPage(page, morph(ink, size, 3, 'max'), size, size / 2, size / 2);
    return png(renderPage(page, r));
  },
  '8x8 scan': async (d, r) => smallScan(d, r, 8, false),
  '16x16 scan': async (d, r) => smallScan(d, r, 16, false),
  '16x16 binary scan': async (d, r) => smallScan(d, r, 16, true),
  '32x32 binary scan': async (d, r) => smallScan(d, r, 32, true),
  'touching border': async (d, r) => {
    const { ink, size } = scaleInk(d, 3);
    const b = inkBox(ink, size);
    const page = blankPage(b.x1 - b.x0 + 1, b.y1 - b.y0 + 1, PAPER_WHITE);
    placeOnPage(page, ink, size, -b.x0, -b.y0);
    return png(renderPage(page, r));
  },
  'wide margins': async (d, r) => {
    const { ink, size } = scaleInk(d, 2);
    const page = blankPage(480, 360, PAPER_WHITE);
    placeOnPage(
      page,
      ink,
      size,
      Math.round(uniform(r, 0, 480 - size)),
      Math.round(uniform(r, 0, 360 - size)),
    );
    return png(renderPage(page, r, { noise: 2 }));
  },
  rotation: async (d, r) => {
    const { ink, size } = scaleInk(d, 3, uniform(r, -10, 10));
    const page = blankPage(size * 2, size * 2, PAPER_WHITE);
    placeOnPage(page, ink, size, size / 2, size / 2);
    return png(renderPage(page, r));
  },
  'ruled photo': async (d, r) => ruledPhoto([d], r),
};

/**
 * A phone photo of digits written on ruled paper: off-white paper, printed lines, uneven light,
 * slight blur, sensor noise, JPEG q75-90. Digits sit between the lines, gaps as handwriting has them.
 */
export async function ruledPhoto(
  digits: readonly Uint8Array[],
  r: Rand,
  gaps?: readonly number[],
): Promise<Uint8Array> {
  const k = 3;
  const scaled = digits.map((d) => scaleInk(d, k));
  const size = scaled[0].size;
  const boxes = scaled.map((s) => inkBox(s.ink, s.size));
  const widths = boxes.map((b) => b.x1 - b.x0 + 1);
  const gapPx = gaps ?? digits.map(() => Math.round(uniform(r, 2, 12)));
  const total = widths.reduce((a, b) => a + b, 0) + gapPx.slice(1).reduce((a, b) => a + b, 0);
  const page = blankPage(total + size * 2, Math.round(size * 2.2), [245, 243, 236]);
  drawLines(page, size * 0.95, false, r);
  let x = size;
  scaled.forEach((s, i) => {
    if (i > 0) x += gapPx[i];
    placeOnPage(page, s.ink, s.size, x - boxes[i].x0, Math.round(size * 0.6) + Math.round(uniform(r, -3, 3)));
    x += widths[i];
  });
  const img = renderPage(page, r, {
    light: gradient(page.width, page.height, r, 0.6, 1),
    noise: 4,
    blur: 0.8,
  });
  return encodeImage(img, 'jpeg', Math.round(uniform(r, 75, 90)));
}

/** A strip of digits on plain paper, each x3, with gaps from -6 px (overlapping) to 14 px. */
export async function digitStrip(digits: readonly Uint8Array[], r: Rand): Promise<Uint8Array> {
  const scaled = digits.map((d) => scaleInk(d, 3));
  const size = scaled[0].size;
  const boxes = scaled.map((s) => inkBox(s.ink, s.size));
  const gaps = digits.map(() => Math.round(uniform(r, -6, 14)));
  const widths = boxes.map((b) => b.x1 - b.x0 + 1);
  const total = widths.reduce((a, b) => a + b, 0) + gaps.slice(1).reduce((a, b) => a + b, 0);
  const page = blankPage(total + size, Math.round(size * 1.4), [248, 247, 242]);
  let x = Math.round(size / 2);
  scaled.forEach((s, i) => {
    if (i > 0) x += gaps[i];
    placeOnPage(page, s.ink, s.size, x - boxes[i].x0, Math.round(size * 0.2) + Math.round(uniform(r, -4, 4)));
    x += widths[i];
  });
  return encodeImage(
    renderPage(page, r, { noise: 3, light: gradient(page.width, page.height, r, 0.75, 1) }),
    'jpeg',
    85,
  );
}

/**
 * A phone photo: a 24 Mpx JPEG over 12 MiB (sensor noise makes it big) with one digit (28x28, ink
 * high) drawn 2000 px tall in the middle, dark ink multiplied onto paper-coloured noise.
 */
export async function phonePhoto(digit: Uint8Array): Promise<Uint8Array> {
  const noise = await sharp({
    create: {
      width: 6000,
      height: 4000,
      channels: 3,
      background: '#f2efe6',
      noise: { type: 'gaussian', mean: 200, sigma: 40 },
    },
  })
    .raw()
    .toBuffer();
  const glyph = await sharp(Buffer.from(digit.map((v) => 255 - v)), {
    raw: { width: 28, height: 28, channels: 1 },
  })
    .resize(2000, 2000)
    .toColourspace('srgb')
    .png()
    .toBuffer();
  const jpeg = await sharp(noise, { raw: { width: 6000, height: 4000, channels: 3 } })
    .composite([{ input: glyph, left: 2000, top: 1000, blend: 'multiply' }])
    .jpeg({ quality: 95 })
    .toBuffer();
  return new Uint8Array(jpeg);
}

export { mulberry32 };
