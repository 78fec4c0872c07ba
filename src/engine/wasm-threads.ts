/**
 * Multi-threaded wasm under Node.
 *
 * tfjs-backend-wasm turns threads off under Node (flag WASM_HAS_MULTITHREAD_SUPPORT, tfjs issue #3830)
 * because its Emscripten glue assumes a browser: it starts pthread workers from a `blob:` URL and hands
 * them the main script as a Blob, neither of which Node's worker_threads can load. The glue also, while
 * it initialises, assigns `global.Worker` and adds process-wide 'uncaughtException' /
 * 'unhandledRejection' handlers.
 *
 * `initWasm` lends the glue, for the duration of `tf.setBackend('wasm')` only, a `Worker` that
 * runs the worker script from source (`eval: true`) and points the worker at the threaded glue file on
 * disk, and an `os.cpus()` long enough for the C side not to cap the pool (see below); afterwards it
 * restores both and removes the handlers the glue added, so nothing global stays patched. Spare pool
 * workers (Emscripten pre-spawns 8) are terminated and XNNPACK's own are unref'd once its pool exists,
 * so the process still exits by itself.
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import { Worker as NodeWorker, type Transferable, type WorkerOptions } from 'node:worker_threads';
import { type BackendWasm, getThreadsCount, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';

const require = createRequire(import.meta.url);
const WASM_OUT = '@tensorflow/tfjs-backend-wasm/wasm-out/';

interface LoadMessage {
  cmd?: string;
  urlOrBlob?: unknown;
}

type WorkerClass = new (url: string | URL, options?: WorkerOptions) => NodeWorker;

function makeWorkerClass(): WorkerClass {
  const { wasmWorkerContents } = require(`${WASM_OUT}tfjs-backend-wasm-threaded-simd.worker.js`) as {
    wasmWorkerContents: string;
  };
  const gluePath = require.resolve(`${WASM_OUT}tfjs-backend-wasm-threaded-simd.js`);
  return class PthreadWorker extends NodeWorker {
    constructor(url: string | URL, options?: WorkerOptions) {
      // Same escaping tfjs applies before making its Blob: the template literal unescaped the '\n's.
      if (String(url).startsWith('blob:')) super(wasmWorkerContents.replace(/\n/g, '\\n'), { eval: true });
      else super(url, options);
    }
    override postMessage(message: unknown, transferList?: readonly Transferable[]): void {
      const m = message as LoadMessage | null;
      // The worker `importScripts` a string path with fs; a Blob it cannot read under Node.
      if (m && m.cmd === 'load' && typeof m.urlOrBlob !== 'string') message = { ...m, urlOrBlob: gluePath };
      super.postMessage(message, transferList);
    }
  };
}

interface EmscriptenPThread {
  unusedWorkers: NodeWorker[];
  runningWorkers: NodeWorker[];
}

/**
 * Initialises the wasm backend with `threads` XNNPACK threads (1: the plain SIMD build) and returns the
 * count actually in use. Whatever the glue patches globally while it starts is undone before returning.
 */
export async function initWasm(threads: number): Promise<number> {
  const env = tf.env();
  const threaded = threads > 1;
  env.set('WASM_HAS_MULTITHREAD_SUPPORT', threaded);
  setThreadsCount(threads);
  const g = globalThis as Record<string, unknown>;
  const saved = Object.getOwnPropertyDescriptor(g, 'Worker');
  const events = ['uncaughtException', 'unhandledRejection'];
  const listeners = (e: string) => process.listeners(e as 'uncaughtException') as unknown[];
  const listenersBefore = events.map((e) => new Set(listeners(e)));
  const cpus = os.cpus;
  if (threaded) {
    const Worker = makeWorkerClass();
    // The C side caps the pool at emscripten_num_logical_cores() / 2 (it assumes hyper-threading), and
    // under Node that is os.cpus().length: on a 2-core machine, 1 thread. Report 2·threads meanwhile.
    const realCpus = cpus.call(os);
    os.cpus = () =>
      Array.from({ length: Math.max(2 * threads, realCpus.length) }, (_, i) => realCpus[i % realCpus.length]);
    // The glue assigns global.Worker itself; a setter that ignores it keeps ours in place meanwhile.
    Object.defineProperty(g, 'Worker', { configurable: true, get: () => Worker, set: () => {} });
  }
  let ok = false;
  try {
    ok = await tf.setBackend('wasm');
  } finally {
    os.cpus = cpus;
    if (saved) Object.defineProperty(g, 'Worker', saved);
    else delete g.Worker;
    events.forEach((e, i) => {
      for (const l of listeners(e)) if (!listenersBefore[i].has(l)) process.removeListener(e, l as never);
    });
  }
  if (!ok) {
    env.set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    throw new Error(
      `the wasm backend (${threaded ? `${threads} threads` : '1 thread'}) failed to initialise`,
    );
  }
  const pthread = (tf.backend() as BackendWasm).wasm as unknown as { PThread?: EmscriptenPThread };
  if (pthread.PThread) {
    // Emscripten pre-spawns 8 workers; XNNPACK's pool has taken the ones it needs.
    for (const w of pthread.PThread.unusedWorkers) void w.terminate();
    pthread.PThread.unusedWorkers = [];
    // Emscripten ref()s the worker of every running pthread so that Node waits for it; XNNPACK's pool
    // threads never end, so the process would never exit. They hold no work between kernels.
    for (const w of pthread.PThread.runningWorkers) w.unref();
  }
  return getThreadsCount();
}
