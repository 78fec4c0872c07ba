/**
 * Where an answer is computed: the server (POST /api/predict), or this device (./offline/engine.ts,
 * TF.js, fetched as a separate chunk on first use). The device answers when the user asked for
 * privacy (nothing about the drawing leaves the device) and when the server cannot be reached.
 * After the first answer from the server, the model is loaded onto the device in the background, so
 * a server that goes away later does not stop the page.
 */
import type { Stroke } from '../preprocess/index.js';
import { ApiError, type Prediction, predict } from './api.js';
import type { DeviceModel } from './offline/engine.js';

export type Where = 'server' | 'private' | 'offline';

export interface Answered {
  readonly prediction: Prediction;
  readonly where: Where;
}

interface ModelRef {
  readonly name: string;
  readonly version: string;
}

type Engine = typeof import('./offline/engine.js');
let engine: Promise<Engine> | undefined;
const models = new Map<string, Promise<DeviceModel>>();
/** The version the server last answered with, per model (a promote changes it under the page). */
const servedVersion = new Map<string, string>();

function loadEngine(): Promise<Engine> {
  engine ??= import('./offline/engine.js').catch((err: unknown) => {
    engine = undefined; // the chunk could not be fetched: try again next time
    throw err;
  });
  return engine;
}

/** The model loaded onto this device (once per name and version; a failure is retried next time). */
export function deviceModel(ref: ModelRef): Promise<DeviceModel> {
  const key = `${ref.name}@${ref.version}`;
  let model = models.get(key);
  if (!model) {
    model = loadEngine().then((e) => e.loadDeviceModel(ref.name, ref.version));
    model.catch(() => models.delete(key));
    models.set(key, model);
    // Older versions of the same model are no longer needed.
    for (const [k, m] of models)
      if (k !== key && k.startsWith(`${ref.name}@`)) {
        models.delete(k);
        void m.then((d) => d.dispose()).catch(() => {});
      }
  }
  return model;
}

/** Network failures and a proxy's "no upstream" answers: the server is away, not refusing. */
export function serverUnreachable(err: unknown): boolean {
  return err instanceof ApiError && [0, 502, 503, 504].includes(err.status);
}

function warmUp(ref: ModelRef): void {
  const idle = (fn: () => void) =>
    typeof requestIdleCallback === 'function'
      ? requestIdleCallback(fn, { timeout: 5_000 })
      : setTimeout(fn, 500);
  idle(() => void deviceModel(ref).catch(() => {}));
}

/** The answer for a drawing, from the server unless `privateMode`, on the device when the server is away. */
export async function answer(
  strokes: readonly Stroke[],
  model: ModelRef,
  topK: number,
  privateMode: boolean,
): Promise<Answered> {
  const ref = { name: model.name, version: servedVersion.get(model.name) ?? model.version };
  if (privateMode) return { prediction: (await deviceModel(ref)).predict(strokes, topK), where: 'private' };
  try {
    const prediction = await predict(strokes, model.name, topK);
    servedVersion.set(model.name, prediction.model.version);
    warmUp(prediction.model);
    return { prediction, where: 'server' };
  } catch (err) {
    if (!serverUnreachable(err)) throw err;
    let device: DeviceModel;
    try {
      device = await deviceModel(ref);
    } catch {
      throw err; // neither the server nor a model on the device: the page says the server is away
    }
    return { prediction: device.predict(strokes, topK), where: 'offline' };
  }
}
