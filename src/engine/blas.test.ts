import { describe, expect, it } from 'vitest';
import { loadBlas } from './blas.js';

const result = loadBlas(1);
if (!result.blas) console.warn(`blas.test: skipped: ${result.reason}`);
const run = result.blas ? describe : describe.skip;

/** C = op(A)·op(B) in float64, row-major, for checking. */
function reference(a: number[], b: number[], ta: boolean, tb: boolean, m: number, n: number, k: number) {
  const A = (i: number, p: number) => (ta ? a[p * m + i] : a[i * k + p]);
  const B = (p: number, j: number) => (tb ? b[j * k + p] : b[p * n + j]);
  const c: number[] = [];
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += A(i, p) * B(p, j);
      c.push(s);
    }
  return c;
}

run('the OpenBLAS addon', () => {
  const blas = result.blas as NonNullable<typeof result.blas>;
  const [m, n, k] = [5, 3, 4];
  const a = Array.from({ length: m * k }, (_, i) => Math.sin(i + 1));
  const b = Array.from({ length: k * n }, (_, i) => Math.cos(i * 0.7));

  it.each([
    [false, false, 'ArrayBuffer'],
    [true, false, 'ArrayBuffer'],
    [false, true, 'SharedArrayBuffer'],
    [true, true, 'SharedArrayBuffer'],
  ] as const)('transA %s transB %s on a heap in a %s, at byte offsets', (ta, tb, kind) => {
    const bytes = 4096;
    const heap = new Float32Array(
      kind === 'ArrayBuffer' ? new ArrayBuffer(bytes) : new SharedArrayBuffer(bytes),
    );
    // A at float 8, B at float 64, C at float 128 (pre-filled: beta 0 must overwrite, not add).
    heap.set(a, 8);
    heap.set(b, 64);
    heap.fill(99, 128, 128 + m * n);
    blas.sgemm(heap, +ta, +tb, m, n, k, 32, ta ? m : k, 256, tb ? k : n, 0, 512, n);
    const want = reference(a, b, ta, tb, m, n, k);
    const got = Array.from(heap.subarray(128, 128 + m * n));
    for (const [i, v] of got.entries()) expect(v).toBeCloseTo(want[i], 5);
    expect(heap[128 + m * n]).toBe(0); // nothing written past C
    // beta 1 accumulates.
    blas.sgemm(heap, +ta, +tb, m, n, k, 32, ta ? m : k, 256, tb ? k : n, 1, 512, n);
    for (const [i, v] of heap.subarray(128, 128 + m * n).entries()) expect(v).toBeCloseTo(2 * want[i], 4);
  });

  it('refuses operands outside the heap, bad sizes and misaligned offsets, writing nothing', () => {
    const heap = new Float32Array(64);
    heap.fill(7);
    const call =
      (aOff: number, cOff: number, mm = 2) =>
      () =>
        blas.sgemm(heap, 0, 0, mm, 2, 2, aOff, 2, 0, 2, 0, cOff, 2);
    expect(call(0, 256 - 8)).toThrow('operand past the heap');
    expect(call(256, 0)).toThrow('operand past the heap');
    expect(call(2, 0)).toThrow('bad sizes or offsets');
    expect(call(0, 0, 0)).toThrow('bad sizes or offsets');
    expect(call(-4, 0)).toThrow('bad sizes or offsets');
    expect(Array.from(heap).every((v) => v === 7)).toBe(true);
    expect(() =>
      (blas.sgemm as (...args: unknown[]) => void)(new Float64Array(8), 0, 0, 1, 1, 1, 0, 1, 0, 1, 0, 0, 1),
    ).toThrow('heap must be a Float32Array');
  });
});

describe('loadBlas', () => {
  it('is off with HWR_BLAS=off, and names the library it could not load', () => {
    expect(loadBlas(1, 'off')).toEqual({ reason: 'disabled by HWR_BLAS=off' });
    expect(() => loadBlas(1, '/nonexistent/libopenblas.so')).toThrow(
      /HWR_BLAS=\/nonexistent\/libopenblas.so: no BLAS library/,
    );
  });
});
