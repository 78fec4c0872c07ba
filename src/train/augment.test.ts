import { describe, expect, it } from 'vitest';
import { NO_AUGMENT, warpInto } from './augment.js';

const SIZE = 28;
/** A asymmetric test pattern: every pixel different, so a wrong index shows. */
const SRC = Uint8Array.from({ length: SIZE * SIZE }, (_, i) => (i * 37 + 11) % 256);
/** u() = rand() * 2 - 1: rand 0.5 draws 0 (no change), rand 1 the maximum of each parameter. */
const constant = (v: number) => () => v;

function warp(opts: typeof NO_AUGMENT, rand: () => number, a = 1, b = 0): Float32Array {
  const out = new Float32Array(SIZE * SIZE + 3).fill(-7);
  warpInto(SRC, SIZE, out, 3, a, b, opts, rand);
  return out;
}

describe('warpInto', () => {
  it('copies the image (a·p + b) when every parameter draws zero, and writes only its own slot', () => {
    const out = warp({ rotate: 10, scale: 0.1, shift: 2, shear: 0.1 }, constant(0.5), 2, 0.5);
    expect(Array.from(out.subarray(0, 3))).toEqual([-7, -7, -7]);
    expect(Array.from(out.subarray(3))).toEqual(Array.from(SRC, (p) => Math.fround(p * 2 + 0.5)));
  });

  it('shifts by whole pixels exactly, filling what comes in from outside with 0', () => {
    const out = warp({ ...NO_AUGMENT, shift: 2 }, constant(1)).subarray(3);
    for (let y = 0; y < SIZE; y++)
      for (let x = 0; x < SIZE; x++) {
        const want = x >= 2 && y >= 2 ? SRC[(y - 2) * SIZE + x - 2] : 0;
        expect(out[y * SIZE + x]).toBe(want);
      }
  });

  it('rotates a quarter turn about the centre', () => {
    const out = warp({ ...NO_AUGMENT, rotate: 90 }, constant(1)).subarray(3);
    // Forward map R(90°) sends (dx, dy) to (-dy, dx): output (x, y) samples source (y, size-1-x).
    for (let y = 0; y < SIZE; y++)
      for (let x = 0; x < SIZE; x++) expect(out[y * SIZE + x]).toBeCloseTo(SRC[(SIZE - 1 - x) * SIZE + y], 3);
  });

  it('interpolates bilinearly between pixels, edges against 0', () => {
    const src = new Uint8Array(SIZE * SIZE);
    src[14 * SIZE + 14] = 200;
    const out = new Float32Array(SIZE * SIZE);
    // shift 0.5 px right and down: the single bright pixel spreads over a 2x2 block, 50 each.
    warpInto(src, SIZE, out, 0, 1, 0, { ...NO_AUGMENT, shift: 0.5 }, constant(1));
    for (const [x, y] of [
      [14, 14],
      [15, 14],
      [14, 15],
      [15, 15],
    ])
      expect(out[y * SIZE + x]).toBeCloseTo(50, 4);
    expect(out.reduce((s, v) => s + v, 0)).toBeCloseTo(200, 3);
  });
});
