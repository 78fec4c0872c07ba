import os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { type ErrorCode, HwrError } from '../util/errors.js';
import { registerBatchNormTraining } from './batchnorm.js';
import { registerFastGradients } from './gradients.js';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';
export const BACKEND_NAMES: readonly BackendName[] = ['tensorflow', 'wasm', 'cpu'];

export interface BackendInfo {
  readonly name: BackendName;
  readonly threads: number;
  readonly simd: boolean;
  /** wasm only: the BLAS library its GEMMs run on ("XNNPACK" when none is loaded). */
  readonly gemm?: string;
}

/** The backend's settings, as the edge reads them (`hwr --backend/--threads`, HWR_BACKEND, HWR_THREADS, HWR_BLAS). */
export interface EngineSettings {
  /** Forced backend; default: the fastest one available (tensorflow, wasm, cpu). */
  readonly backend?: BackendName;
  /** Threads for wasm; default: min(2, cores) (XNNPACK gains little past 2 here). */
  readonly threads?: number;
  /** wasm GEMMs: "off" (XNNPACK), or the OpenBLAS library to load; default: the system's (./blas.ts). */
  readonly blas?: string;
}

export interface BackendOptions extends EngineSettings {
  readonly log?: (message: string) => void;
}

/** A bad backend choice (option or environment variable); the message says what is accepted. */
export class BackendError extends HwrError {
  override readonly name = 'BackendError';

  constructor(message: string, options: { code?: ErrorCode; cause?: unknown } = {}) {
    super(options.code ?? 'backend', message, { cause: options.cause });
  }
}

let current: BackendInfo | undefined;

function requestedBackend(options: BackendOptions): BackendName | undefined {
  const raw = options.backend;
  if (raw === undefined) return undefined;
  if (!BACKEND_NAMES.includes(raw))
    throw new BackendError(`unknown backend "${raw}" (expected one of ${BACKEND_NAMES.join(', ')})`);
  return raw;
}

function requestedThreads(options: BackendOptions): number {
  const raw = options.threads ?? Math.min(2, os.availableParallelism());
  if (!Number.isInteger(raw) || raw < 1 || raw > 8)
    throw new BackendError(`threads must be an integer from 1 to 8, got ${raw}`);
  return raw;
}

async function tryTensorflow(): Promise<string | undefined> {
  // A variable specifier: tfjs-node is optional and may be absent at type-check time.
  const name = '@tensorflow/tfjs-node';
  try {
    await import(name);
  } catch (e) {
    return (e as Error).message.split('\n')[0];
  }
  if (!(await tf.setBackend('tensorflow'))) return 'the tensorflow backend failed to initialise';
  return undefined;
}

/** OpenBLAS for the wasm kernels' GEMMs when the addon and library load; else XNNPACK's. */
async function attachBlas(
  threads: number,
  setting: string | undefined,
  log: (m: string) => void,
): Promise<string> {
  const { loadBlas } = await import('./blas.js');
  const { useBlas } = await import('./wasm-kernels.js');
  let result: ReturnType<typeof loadBlas>;
  try {
    result = loadBlas(threads, setting);
  } catch (e) {
    throw new BackendError((e as Error).message);
  }
  useBlas(result.blas);
  if (!result.blas) {
    log(`backend: GEMMs on XNNPACK (OpenBLAS: ${result.reason})`);
    return 'XNNPACK';
  }
  return result.blas.library.split(' ').slice(0, 2).join(' ');
}

async function tryWasm(threads: number, log: (m: string) => void): Promise<number | undefined> {
  const { registerWasmTrainingKernels } = await import('./wasm-kernels.js');
  const { initWasm } = await import('./wasm-threads.js');
  registerWasmTrainingKernels();
  try {
    return await initWasm(threads);
  } catch (e) {
    if (threads === 1) return undefined;
    log(`backend: ${(e as Error).message}; retrying with 1 thread`);
  }
  try {
    return await initWasm(1);
  } catch {
    return undefined;
  }
}

/**
 * Picks and initialises the TF.js backend once per process (later calls return the first choice):
 * `tensorflow` (tfjs-node) when importable, else `wasm` (SIMD, multi-threaded, with the training kernels
 * of ./wasm-kernels.ts), else `cpu`. A backend forced by option that fails is an error.
 */
export async function initBackend(options: BackendOptions = {}): Promise<BackendInfo> {
  if (current) return current;
  // Production mode: skips TF.js debug checks and its "install tfjs-node" console banner.
  tf.env().set('PROD', true);
  registerFastGradients();
  registerBatchNormTraining();
  const log = options.log ?? (() => {});
  const requested = requestedBackend(options);
  const threads = requestedThreads(options);
  let info: BackendInfo | undefined;
  if (!requested || requested === 'tensorflow') {
    const failure = await tryTensorflow();
    if (!failure) info = { name: 'tensorflow', threads: os.availableParallelism(), simd: true };
    else if (!requested)
      // tfjs-node is optional and usually absent: say so briefly, with the reason only if it is another one.
      log(
        /Cannot find (package|module)/.test(failure)
          ? 'backend: tensorflow (@tensorflow/tfjs-node) not installed'
          : `backend: tensorflow unavailable (${failure})`,
      );
    else
      throw new BackendError(
        `the tensorflow backend is unavailable (${failure}); install @tensorflow/tfjs-node with its native library, or use --backend wasm (HWR_BACKEND=wasm)`,
      );
  }
  if (!info && (!requested || requested === 'wasm')) {
    const used = await tryWasm(threads, log);
    if (used !== undefined)
      info = {
        name: 'wasm',
        threads: used,
        simd: Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')),
        gemm: await attachBlas(used, options.blas, log),
      };
    else if (requested) throw new BackendError('the wasm backend failed to initialise');
  }
  if (!info) {
    await import('@tensorflow/tfjs-backend-cpu');
    if (!(await tf.setBackend('cpu'))) throw new BackendError('the cpu backend failed to initialise');
    info = { name: 'cpu', threads: 1, simd: false };
  }
  await tf.ready();
  current = info;
  log(
    `backend: ${info.name} (threads ${info.threads}, simd ${info.simd}${info.gemm ? `, GEMM ${info.gemm}` : ''})`,
  );
  return info;
}
