import * as tf from '@tensorflow/tfjs-core';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';
export const BACKEND_NAMES: readonly BackendName[] = ['tensorflow', 'wasm', 'cpu'];

export interface BackendInfo {
  readonly name: BackendName;
  readonly threads: number;
  readonly simd: boolean;
}

export interface BackendOptions {
  /** Forced backend; default: HWR_BACKEND, else the fastest one available. */
  readonly backend?: BackendName;
  /** Threads for wasm (default: HWR_THREADS, else all cores, at most 2 are useful here). */
  readonly threads?: number;
  readonly log?: (message: string) => void;
}

let current: BackendInfo | undefined;

/** Picks and initialises the TF.js backend once per process; later calls return the first choice. */
export async function initBackend(options: BackendOptions = {}): Promise<BackendInfo> {
  if (current) return current;
  const requested = options.backend ?? (process.env.HWR_BACKEND as BackendName | undefined);
  if (requested && !BACKEND_NAMES.includes(requested))
    throw new Error(`unknown backend "${requested}" (expected one of ${BACKEND_NAMES.join(', ')})`);
  if (!requested || requested === 'wasm') {
    await import('@tensorflow/tfjs-backend-wasm');
    if (await tf.setBackend('wasm')) {
      await tf.ready();
      current = { name: 'wasm', threads: 1, simd: Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) };
    } else if (requested) throw new Error('the wasm backend failed to initialise');
  }
  if (!current) {
    await import('@tensorflow/tfjs-backend-cpu');
    await tf.setBackend('cpu');
    await tf.ready();
    current = { name: 'cpu', threads: 1, simd: false };
  }
  options.log?.(`backend: ${current.name} (threads ${current.threads}, simd ${current.simd})`);
  return current;
}
