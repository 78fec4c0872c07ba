/**
 * Single-precision GEMM from the system's OpenBLAS, through the small N-API addon built from
 * ./blas/hwr-blas.c (`npm run build:blas`, part of `npm run build`). XNNPACK's wasm GEMM runs on 128-bit
 * SIMD without FMA; OpenBLAS uses the CPU's AVX2/AVX-512 FMA and is 3-4x faster on the convolutions'
 * GEMMs here (bench/README.md). Optional: without the addon or the library, the wasm kernels keep
 * XNNPACK's GEMM, with the same results up to float rounding.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

interface BlasAddon {
  load(path: string): string;
  threads(n: number): void;
  sgemm(...args: SgemmArgs): void;
}

/**
 * heap (a Float32Array over the wasm memory), transA, transB (0/1), M, N, K, then A, lda, B, ldb,
 * beta, C, ldc: C[M,N] = op(A)·op(B) + beta·C, row-major, A/B/C as byte offsets into the heap.
 */
type SgemmArgs = [
  heap: Float32Array,
  transA: number,
  transB: number,
  m: number,
  n: number,
  k: number,
  a: number,
  lda: number,
  b: number,
  ldb: number,
  beta: number,
  c: number,
  ldc: number,
];

export interface Blas {
  /** What the library says of itself (OpenBLAS: version, kernel, thread limit). */
  readonly library: string;
  readonly sgemm: (...args: SgemmArgs) => void;
}

/** Where `npm run build:blas` puts the addon (the package's build/ folder, from src/ and dist/ alike). */
export const BLAS_ADDON_PATH = fileURLToPath(new URL('../../build/hwr-blas.node', import.meta.url));

/** Tried in order when HWR_BLAS names none: Debian's libopenblas0 (pthread or serial flavour). */
const DEFAULT_LIBRARIES = ['libopenblas.so.0', 'libopenblas.so'];

export type BlasResult = { readonly blas: Blas } | { readonly blas?: undefined; readonly reason: string };

/**
 * Loads the addon and a BLAS library: `setting` "off" (HWR_BLAS=off) disables it, a path picks the
 * library (an error if it cannot be loaded), unset takes the first of DEFAULT_LIBRARIES that loads.
 * `threads` is OpenBLAS's thread count (the wasm backend's, so both use the same cores).
 */
export function loadBlas(threads: number, setting?: string): BlasResult {
  if (setting === 'off') return { reason: 'disabled by HWR_BLAS=off' };
  if (!existsSync(BLAS_ADDON_PATH)) {
    const reason = 'addon not built (npm run build:blas needs a C compiler)';
    if (setting) throw new Error(`HWR_BLAS=${setting}: ${reason}`);
    return { reason };
  }
  // OpenBLAS's idle workers spin for 2^28 cycles after each call by default, taking a core from the
  // wasm kernels that run between GEMMs (paper CNN, 2 threads: ~650 -> ~750 img/s with 2^4). Read once,
  // when the library loads.
  process.env.OPENBLAS_THREAD_TIMEOUT ??= '4';
  const addon = createRequire(import.meta.url)(BLAS_ADDON_PATH) as BlasAddon;
  const candidates = setting ? [setting] : DEFAULT_LIBRARIES;
  const failures: string[] = [];
  for (const path of candidates) {
    try {
      const library = addon.load(path);
      addon.threads(threads);
      return { blas: { library, sgemm: addon.sgemm } };
    } catch (e) {
      failures.push((e as Error).message);
    }
  }
  const reason = `no BLAS library (${failures.join('; ')})`;
  if (setting) throw new Error(`HWR_BLAS=${setting}: ${reason}`);
  return { reason: `${reason}; apt-get install libopenblas0 for faster training` };
}
