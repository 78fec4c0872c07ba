/** Image-level augmentation: a random affine warp per image (bilinear), applied on the fly per batch. */

export interface AugmentOptions {
  /** Max rotation in degrees (uniform in ±). */
  readonly rotate: number;
  /** Max relative scale change (uniform in 1 ± scale). */
  readonly scale: number;
  /** Max translation in pixels (uniform in ±). */
  readonly shift: number;
  /** Max shear factor (uniform in ±). */
  readonly shear: number;
}

export const NO_AUGMENT: AugmentOptions = { rotate: 0, scale: 0, shift: 0, shear: 0 };

export function isIdentity(a: AugmentOptions): boolean {
  return a.rotate === 0 && a.scale === 0 && a.shift === 0 && a.shear === 0;
}

/**
 * Warps one size x size byte image into `out` (as floats, a * pixel + b), sampling the source
 * through the inverse of a random affine map about the image centre.
 */
export function warpInto(
  src: Uint8Array,
  size: number,
  out: Float32Array,
  outOffset: number,
  a: number,
  b: number,
  opts: AugmentOptions,
  rand: () => number,
): void {
  const u = () => rand() * 2 - 1;
  const theta = (u() * opts.rotate * Math.PI) / 180;
  const s = 1 + u() * opts.scale;
  const sh = u() * opts.shear;
  const tx = u() * opts.shift;
  const ty = u() * opts.shift;
  // Forward map M = R(theta) * Shear(sh) * s; we need M^-1 to pull source pixels.
  const cos = Math.cos(theta);
  const sin = Math.sin(theta);
  const m00 = s * cos;
  const m01 = s * (cos * sh - sin);
  const m10 = s * sin;
  const m11 = s * (sin * sh + cos);
  const det = m00 * m11 - m01 * m10;
  const i00 = m11 / det;
  const i01 = -m01 / det;
  const i10 = -m10 / det;
  const i11 = m00 / det;
  const c = (size - 1) / 2;
  // Hot loop (every training image, every epoch): no closures, bounds checked once per sample. The
  // arithmetic is the same expression as before in the same order, so warps are bit-identical.
  const last = size - 1;
  for (let y = 0; y < size; y++) {
    const dy = y - c - ty;
    const row = outOffset + y * size;
    for (let x = 0; x < size; x++) {
      const dx = x - c - tx;
      const sx = i00 * dx + i01 * dy + c;
      const sy = i10 * dx + i11 * dy + c;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      let v = 0;
      if (x0 >= -1 && y0 >= -1 && x0 < size && y0 < size) {
        const fx = sx - x0;
        const fy = sy - y0;
        const inX0 = x0 >= 0;
        const inX1 = x0 < last;
        const top = y0 >= 0 ? y0 * size : -1;
        const bottom = y0 < last ? (y0 + 1) * size : -1;
        const p00 = top >= 0 && inX0 ? src[top + x0] : 0;
        const p10 = top >= 0 && inX1 ? src[top + x0 + 1] : 0;
        const p01 = bottom >= 0 && inX0 ? src[bottom + x0] : 0;
        const p11 = bottom >= 0 && inX1 ? src[bottom + x0 + 1] : 0;
        v = (1 - fy) * ((1 - fx) * p00 + fx * p10) + fy * ((1 - fx) * p01 + fx * p11);
      }
      out[row + x] = v * a + b;
    }
  }
}
