import { existsSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { DataError, type ImageDataset, range, subset } from '../data/dataset.js';
import { type DatasetOptions, loadDataset } from '../data/datasets.js';
import { initBackend } from '../engine/backend.js';
import { compareResults, evaluateModel } from '../eval/index.js';
import { isArchName } from '../model/archs.js';
import { PIXELS } from '../model/infer.js';
import { disposeLoaded, type LoadedModel, loadModel, ModelError, saveModel } from '../model/io.js';
import type { ModelMetadata } from '../model/metadata.js';
import { ModelCatalog } from '../store/catalog.js';
import type { HwrDatabase } from '../store/database.js';
import { ModelStore, StoreError } from '../store/store.js';
import { type AugmentOptions, NO_AUGMENT } from '../train/augment.js';
import { RECIPES } from '../train/recipes.js';
import { train } from '../train/trainer.js';
import { deriveSeed, mulberry32, permutation } from '../util/random.js';
import { type FeedbackSummary, loadFeedback, splitHoldout } from './feedback.js';
import { DEFAULT_GATE, decideGate, type GateDecision, type GateOptions } from './gate.js';

export interface RetrainOptions {
  /** The served model: a plain model dir or a store dir (its `current` is used), e.g. models/digits. */
  readonly base: string;
  /** feedback.sqlite, its folder, or an exported dataset folder. */
  readonly feedback: string;
  /**
   * The cluster's shared database (PostgreSQL): its pointer picks the base version, and a promote
   * goes through it so that every replica swaps. Default: the store's `current` link.
   */
  readonly database?: HwrDatabase;
  /** Where the candidate model directory is written (atomically). */
  readonly out: string;
  readonly epochs?: number;
  /** Original training images mixed in (sampled at random, seeded) against forgetting. */
  readonly replay?: number;
  /** Share of the feedback held out to judge the candidate (deterministic by content hash). */
  readonly holdout?: number;
  /** Times each feedback training sample is repeated per epoch; default: about a third of the mix. */
  readonly oversample?: number;
  /** Learning rate; default a tenth of the base model's. */
  readonly lr?: number;
  readonly batchSize?: number;
  readonly seed?: number;
  readonly gate?: Partial<GateOptions>;
  /** Dataset to replay and test on (default: the base model's metadata.dataset.name). */
  readonly dataset?: string;
  readonly dataDir?: string;
  /** The loaders' settings from the edge's configuration (HWR_DATA_DIR, HWR_CACHE_DIR, HWR_UNIPEN_SUSPECT). */
  readonly datasetSettings?: Pick<DatasetOptions, 'dataRoot' | 'cacheRoot' | 'keepSuspect'>;
  /** Test on the first n test images only (quick runs). */
  readonly testLimit?: number;
  /** Add the candidate to the store and make it current when the gate passes. */
  readonly promote?: boolean;
  readonly command?: string;
  readonly signal?: AbortSignal;
  readonly log?: (message: string) => void;
}

export interface RetrainResult {
  readonly candidateDir: string;
  readonly base: { readonly name: string; readonly version: string; readonly dir: string };
  readonly feedback: FeedbackSummary & { readonly train: number; readonly holdout: number };
  /** Absent when the run was interrupted (no candidate). */
  readonly gate?: GateDecision;
  /** The store version the candidate became (only when promoted). */
  readonly promoted?: string;
  readonly interrupted: boolean;
}

function concat(
  parts: readonly { ds: ImageDataset; indices: ArrayLike<number>; times: number }[],
): ImageDataset {
  const n = parts.reduce((s, p) => s + p.indices.length * p.times, 0);
  const images = new Uint8Array(n * PIXELS);
  const labels = new Uint8Array(n);
  let k = 0;
  for (const { ds, indices, times } of parts)
    for (let t = 0; t < times; t++)
      for (let i = 0; i < indices.length; i++, k++) {
        const j = indices[i];
        images.set(ds.images.subarray(j * PIXELS, (j + 1) * PIXELS), k * PIXELS);
        labels[k] = ds.labels[j];
      }
  const first = parts[0].ds;
  return { ...first, images, labels, n, sources: parts.flatMap((p) => p.ds.sources) };
}

function augmentOf(meta: ModelMetadata): AugmentOptions {
  const a = meta.extra?.augment as AugmentOptions | undefined;
  if (a && typeof a.rotate === 'number') return a;
  return isArchName(meta.arch) ? RECIPES[meta.arch].augment : NO_AUGMENT;
}

/** The version a plain base directory became when the store adopted it. */
async function adoptedVersion(store: ModelStore, name: string): Promise<string | null> {
  const { history } = await store.inspect(name);
  return history.events.find((e) => e.action === 'adopt')?.version ?? null;
}

/**
 * The stroke parts of a fused base, carried into the candidate unchanged: the fine-tune touches the
 * image CNN only, so each part keeps its weights and test accuracy and the fusion its weights. The
 * fusion's accuracy figures were measured with the base's CNN and are left out (stale otherwise).
 */
function carriedParts(base: LoadedModel): {
  metadata: Pick<ModelMetadata, 'parts' | 'fusion'>;
  nets: Record<string, LoadedModel['model']>;
} {
  const { parts, fusion } = base.metadata;
  if (!parts || !fusion) return { metadata: {}, nets: {} };
  return {
    metadata: {
      parts,
      fusion: {
        method: fusion.method,
        weights: fusion.weights,
        fittedOn: `${fusion.fittedOn}; carried unchanged from ${base.metadata.version} by retrain (image CNN fine-tuned)`,
      },
    },
    nets: Object.fromEntries(base.parts.map((p) => [p.name, p.model])),
  };
}

/**
 * Fine-tunes the served model on stored corrections mixed with a replay sample of its original
 * training data, then gates the candidate against the base: no worse on the original test set and
 * better on held-out feedback. With `promote`, a passing candidate becomes the store's new current.
 */
export async function retrain(options: RetrainOptions): Promise<RetrainResult> {
  const log = options.log ?? (() => {});
  await initBackend({ log });
  const baseArg = resolve(options.base);
  if (!existsSync(baseArg)) throw new ModelError(`no base model at ${options.base}`);
  const catalog = new ModelCatalog(new ModelStore(dirname(baseArg)), options.database);
  const baseDir = await catalog.servedDir(basename(baseArg));
  const base = await loadModel(baseDir);
  const meta = base.metadata;
  const classes = meta.classes;
  log(`base ${meta.name} ${meta.version} (${meta.arch}, ${classes.length} classes) from ${baseDir}`);

  const fb = await loadFeedback(options.feedback, meta.name, classes);
  const s = fb.summary;
  log(
    `feedback: ${s.rows} rows, ${s.duplicates} duplicates, ${s.outsideClasses} outside the classes, ${s.used} used` +
      (s.conflicting ? ` (${s.conflicting} drawings stored with more than one label)` : ''),
  );
  const split = splitHoldout(fb.data, options.holdout ?? 0.2);
  if (split.train.length === 0 || split.holdout.length === 0)
    throw new DataError(
      `need at least 2 usable feedback samples (have ${fb.data.n}): one to learn from, one to judge by`,
    );
  const holdout = subset(fb.data, split.holdout);

  const datasetName = options.dataset ?? meta.dataset.name;
  const original = await loadDataset(datasetName, {
    ...options.datasetSettings,
    dataDir: options.dataDir,
  }).catch((err: Error) => {
    throw new DataError(
      `cannot load the original dataset "${datasetName}" to replay and test on: ${err.message} (use --dataset NAME)`,
    );
  });
  if (original.train.classes.join('\u0000') !== classes.join('\u0000'))
    throw new DataError(
      `dataset "${datasetName}" has classes [${original.train.classes.join(' ')}], the model [${classes.join(' ')}]`,
    );
  const test =
    options.testLimit === undefined
      ? original.test
      : subset(original.test, range(0, Math.min(options.testLimit, original.test.n)));
  const seed = options.seed ?? 1;
  const replayN = Math.min(options.replay ?? 5000, original.train.n);
  const replayIdx = permutation(original.train.n, mulberry32(deriveSeed(seed, 'replay'))).subarray(
    0,
    replayN,
  );
  const nFb = split.train.length;
  // Feedback is scarce next to the replay sample: repeat it to about a third of the mix (max 20x).
  const oversample = options.oversample ?? Math.max(1, Math.min(20, Math.round(replayN / 2 / nFb)));
  const mix = concat([
    { ds: fb.data, indices: split.train, times: oversample },
    { ds: original.train, indices: replayIdx, times: 1 },
  ]);
  log(
    `fine-tune set: ${nFb} feedback x${oversample} + ${replayN} replayed ${datasetName} images; held out ${holdout.n} feedback, ${test.n} test images`,
  );

  // The base is judged before training: train() updates the very same model object in place.
  const evalOpts = { mistakes: 0 };
  const baseTest = evaluateModel(base, test, { ...evalOpts, datasetName: `${datasetName} test` });
  const baseHoldout = evaluateModel(base, holdout, { ...evalOpts, datasetName: 'feedback holdout' });

  const recipe = isArchName(meta.arch) ? RECIPES[meta.arch] : undefined;
  const lr = options.lr ?? meta.training.lr / 10;
  const command = options.command ?? 'retrain';
  const trained = await train({
    name: meta.name,
    arch: isArchName(meta.arch) ? meta.arch : 'fast', // only recorded: the base model is the start
    data: { name: datasetName, train: mix, test },
    out: options.out,
    epochs: options.epochs ?? 2,
    batchSize: options.batchSize ?? Math.min(meta.training.batchSize, mix.n),
    lr,
    schedule: 'cosine',
    labelSmoothing: (meta.extra?.labelSmoothing as number | undefined) ?? recipe?.labelSmoothing ?? 0,
    augment: augmentOf(meta),
    normalization: meta.normalization,
    seed,
    validationSplit: 0,
    command,
    initialModel: base.model,
    signal: options.signal,
    onEpoch: (h, info) =>
      log(
        `epoch ${h.epoch}/${info.epochs}: loss ${h.loss.toFixed(4)} acc ${(h.acc * 100).toFixed(2)}% (${(h.seconds ?? 0).toFixed(1)} s)`,
      ),
    log,
  });
  const feedbackInfo = { ...s, train: nFb, holdout: holdout.n };
  const baseInfo = { name: meta.name, version: meta.version, dir: baseDir };
  if (trained.interrupted) {
    trained.model.dispose();
    for (const p of base.parts) p.model.dispose();
    return { candidateDir: resolve(options.out), base: baseInfo, feedback: feedbackInfo, interrupted: true };
  }

  // Judge the candidate as saved (reloaded from disk), like hwr train does.
  const carried = carriedParts(base);
  const draft: ModelMetadata = {
    ...trained.metadata,
    ...carried.metadata,
    parentVersion: meta.version,
    dataset: {
      ...trained.metadata.dataset,
      sources: [...meta.dataset.sources, { path: s.source, sha256: s.sha256 }],
    },
  };
  await saveModel(trained.model, draft, options.out, {
    weights: (meta.weights?.dtype as 'float32' | 'float16' | undefined) ?? 'float32',
    parts: carried.nets,
  });
  trained.model.dispose();
  for (const p of base.parts) p.model.dispose();
  const candidate = await loadModel(options.out);
  const candTest = evaluateModel(candidate, test, { ...evalOpts, datasetName: `${datasetName} test` });
  const candHoldout = evaluateModel(candidate, holdout, { ...evalOpts, datasetName: 'feedback holdout' });
  const gate = decideGate(compareResults(baseTest, candTest), compareResults(baseHoldout, candHoldout), {
    ...DEFAULT_GATE,
    ...options.gate,
  });
  for (const line of gate.checks) log(`gate ${line}`);
  log(`gate ${gate.passed ? 'PASSED' : 'FAILED'}`);
  const final: ModelMetadata = {
    ...candidate.metadata,
    testAccuracy: candTest.accuracy,
    extra: {
      ...candidate.metadata.extra,
      gate,
      feedback: feedbackInfo,
      retrain: { base: baseInfo, replay: replayN, oversample, lr, testSamples: test.n },
    },
  };
  await saveModel(candidate.model, final, options.out, {
    weights: (meta.weights?.dtype as 'float32' | 'float16' | undefined) ?? 'float32',
    parts: Object.fromEntries(candidate.parts.map((p) => [p.name, p.model])),
  });
  disposeLoaded(candidate); // the base model object was trained in place and disposed above

  let promoted: string | undefined;
  if (options.promote && gate.passed) {
    const name = basename(baseArg);
    // The parent is the version actually fine-tuned (a plain base becomes v0001 on adoption).
    const parentVersion = baseDir !== baseArg ? meta.version : undefined;
    const added = await catalog.add(name, options.out, { parentVersion, note: 'hwr retrain' });
    if (catalog.shared) await options.database?.models.setGate(name, added.version, gate);
    // Gated against the base only: if another promote moved `current` meanwhile, this one is refused.
    const expectCurrent = parentVersion ?? (await adoptedVersion(catalog.files, name));
    try {
      await catalog.promote(name, added.version, {
        note: `hwr retrain (gate passed, base ${meta.version})`,
        expectCurrent,
      });
      promoted = added.version;
      log(`promoted: ${name} current is now ${added.version}`);
    } catch (err) {
      if (!(err instanceof StoreError && err.reason === 'current-moved')) throw err;
      log(`not promoted: ${err.message}; the candidate is stored as ${added.version}`);
    }
  } else if (options.promote) {
    log(`not promoted: the gate failed; the candidate stays in ${options.out}`);
  }
  return {
    candidateDir: resolve(options.out),
    base: baseInfo,
    feedback: feedbackInfo,
    gate,
    promoted,
    interrupted: false,
  };
}
