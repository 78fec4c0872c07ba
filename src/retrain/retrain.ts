import { existsSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { DataError, type ImageDataset, range, subset } from '../data/dataset.js';
import { type DatasetOptions, loadDataset } from '../data/datasets.js';
import { initBackend } from '../engine/backend.js';
import { compareResults, type EvalResult, evaluateModel } from '../eval/index.js';
import { isArchName } from '../model/archs.js';
import { PIXELS } from '../model/infer.js';
import { disposeLoaded, type LoadedModel, loadModel, ModelError, saveModel } from '../model/io.js';
import type { ModelMetadata } from '../model/metadata.js';
import { ModelCatalog } from '../store/catalog.js';
import type { HwrDatabase } from '../store/database.js';
import { ModelStore, StoreError } from '../store/store.js';
import { type AugmentOptions, NO_AUGMENT } from '../train/augment.js';
import { RECIPES } from '../train/recipes.js';
import { splitValidation, train } from '../train/trainer.js';
import { deriveSeed, mulberry32, permutation } from '../util/random.js';
import { type FeedbackSummary, loadFeedback, splitHoldout } from './feedback.js';
import {
  candidateFusion,
  type FusedJudging,
  judgeFused,
  prepareFusedJudging,
  servedCorrect,
} from './fused-judge.js';
import {
  comparisonSide,
  DEFAULT_GATE,
  decideGate,
  type GateDecision,
  type GateOptions,
  pairedSide,
} from './gate.js';
import { fineTuneStrokePart, type StrokeFineTuneResult, strokePartOf } from './stroke-finetune.js';

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
  /** Fused models: stroke fine-tune epochs (default: `epochs`). */
  readonly strokeEpochs?: number;
  /** Fused models: UNIPEN training-writer drawings replayed in the stroke fine-tune (default 2000). */
  readonly strokeReplay?: number;
  /** Fused models: stroke learning rate (default: a tenth of the rate the part was trained with). */
  readonly strokeLr?: number;
  /** Fused models: folder with the UNIPEN files (default: HWR_DATA_DIR/unipen, else datasets/unipen). */
  readonly strokeDataDir?: string;
  /** The loaders' settings from the edge's configuration (HWR_DATA_DIR, HWR_CACHE_DIR, HWR_UNIPEN_SUSPECT). */
  readonly datasetSettings?: Pick<DatasetOptions, 'dataRoot' | 'cacheRoot' | 'keepSuspect'>;
  /** Test on the first n test images only, and on n validation-writer drawings (quick runs). */
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
 * Fine-tunes the stroke part (in place) on the stroke corrections of the training share; without
 * any, the part is carried unchanged. Returns undefined for a model without a stroke part.
 */
async function fineTuneStrokes(
  base: LoadedModel,
  judging: FusedJudging | undefined,
  options: RetrainOptions,
  log: (m: string) => void,
): Promise<StrokeFineTuneResult | undefined> {
  const part = strokePartOf(base.parts);
  if (!judging || !part) return undefined;
  if (judging.trainStrokes.length === 0) {
    log(
      'strokes: no correction drawn as strokes in the training share; the stroke part is carried unchanged',
    );
    return undefined;
  }
  return fineTuneStrokePart({
    meta: base.metadata,
    part,
    feedback: judging.trainStrokes,
    data: judging.data,
    replay: options.strokeReplay ?? 2000,
    epochs: options.strokeEpochs ?? options.epochs ?? 2,
    lr: options.strokeLr,
    seed: options.seed ?? 1,
    out: options.out,
    validation: judging.validationSamples,
    command: options.command ?? 'retrain',
    signal: options.signal,
    log,
  });
}

/** The candidate's parts: the stroke part's record after its fine-tune, the others as they were. */
function candidateParts(base: LoadedModel, tuned: StrokeFineTuneResult | undefined) {
  const { parts, fusion } = base.metadata;
  if (!parts || !fusion) return { metadata: {}, nets: {} };
  const part = strokePartOf(base.parts);
  return {
    metadata: {
      parts: tuned && part ? { ...parts, [part.name]: tuned.spec } : parts,
      fusion: { method: fusion.method, weights: fusion.weights, fittedOn: fusion.fittedOn },
    },
    nets: Object.fromEntries(base.parts.map((p) => [p.name, p.model])),
  };
}

/** The gate's verdict on the reloaded candidate (and the fused evidence, for a fused model). */
function judgeCandidate(
  candidate: LoadedModel,
  image: { test: [EvalResult, EvalResult]; holdout: [EvalResult, EvalResult] },
  judging: FusedJudging | undefined,
  options: RetrainOptions,
  log: (m: string) => void,
): { gate: GateDecision; fused?: ReturnType<typeof judgeFused> } {
  const fused = judging ? judgeFused(judging, candidate) : undefined;
  const [baseHoldout, candHoldout] = image.holdout;
  const gate = decideGate(
    {
      test: comparisonSide(compareResults(...image.test)),
      feedback: pairedSide(
        servedCorrect(baseHoldout, judging, judging?.base.feedback),
        servedCorrect(candHoldout, judging, fused?.answers.feedback),
      ),
      fused: fused?.evidence,
    },
    { ...DEFAULT_GATE, ...options.gate },
  );
  for (const line of gate.notes) log(`gate parts: ${line}`);
  for (const line of gate.checks) log(`gate ${line}`);
  log(`gate ${gate.passed ? 'PASSED' : 'FAILED'}`);
  return { gate, fused };
}

/**
 * Adds a passing candidate to the store and makes it current, unless another promote moved
 * `current` since the base was read (then it stays stored, not current). Returns its version.
 */
async function promoteCandidate(
  catalog: ModelCatalog,
  judged: { baseArg: string; baseDir: string; meta: ModelMetadata; gate: GateDecision },
  options: RetrainOptions,
  log: (m: string) => void,
): Promise<string | undefined> {
  const { baseArg, baseDir, meta, gate } = judged;
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
    log(`promoted: ${name} current is now ${added.version}`);
    return added.version;
  } catch (err) {
    if (!(err instanceof StoreError && err.reason === 'current-moved')) throw err;
    log(`not promoted: ${err.message}; the candidate is stored as ${added.version}`);
    return undefined;
  }
}

/** The served model the candidate starts from, and the catalog that resolved it. */
async function loadBase(options: RetrainOptions, log: (m: string) => void) {
  const baseArg = resolve(options.base);
  if (!existsSync(baseArg)) throw new ModelError(`no base model at ${options.base}`);
  const catalog = new ModelCatalog(new ModelStore(dirname(baseArg)), options.database);
  const baseDir = await catalog.servedDir(basename(baseArg));
  const base = await loadModel(baseDir);
  const meta = base.metadata;
  log(`base ${meta.name} ${meta.version} (${meta.arch}, ${meta.classes.length} classes) from ${baseDir}`);
  return { baseArg, catalog, baseDir, base, meta };
}

/** The usable corrections, split by content hash into a training share and a held-out share. */
async function readFeedback(options: RetrainOptions, meta: ModelMetadata, log: (m: string) => void) {
  const fb = await loadFeedback(options.feedback, meta.name, meta.classes, options.database);
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
  if (s.withStrokes) log(`feedback: ${s.withStrokes} of the ${s.used} used were drawn as strokes`);
  return { fb, split, holdout: subset(fb.data, split.holdout) };
}

/** The base's original dataset (to replay and test on), checked to have the model's classes. */
async function loadOriginal(options: RetrainOptions, meta: ModelMetadata) {
  const datasetName = options.dataset ?? meta.dataset.name;
  const original = await loadDataset(datasetName, {
    ...options.datasetSettings,
    dataDir: options.dataDir,
  }).catch((err: Error) => {
    throw new DataError(
      `cannot load the original dataset "${datasetName}" to replay and test on: ${err.message} (use --dataset NAME)`,
    );
  });
  const classes = meta.classes;
  if (original.train.classes.join('\u0000') !== classes.join('\u0000'))
    throw new DataError(
      `dataset "${datasetName}" has classes [${original.train.classes.join(' ')}], the model [${classes.join(' ')}]`,
    );
  const test =
    options.testLimit === undefined
      ? original.test
      : subset(original.test, range(0, Math.min(options.testLimit, original.test.n)));
  return { datasetName, train: original.train, test };
}

/** The fine-tune set: the training share of the feedback, repeated, and a seeded replay sample. */
function fineTuneMix(
  options: RetrainOptions,
  meta: ModelMetadata,
  feedback: ImageDataset,
  trainIdx: number[],
  originalTrain: ImageDataset,
) {
  // Replay what the base trained on: not its validation tail (for pen datasets, the writers the
  // fusion weights were fitted on and the gate judges fused answers by).
  const { fit: replayPool } = splitValidation(originalTrain, meta.training.validationSplit);
  const replayN = Math.min(options.replay ?? 5000, replayPool.n);
  const replayIdx = permutation(replayPool.n, mulberry32(deriveSeed(options.seed ?? 1, 'replay'))).subarray(
    0,
    replayN,
  );
  const nFb = trainIdx.length;
  // Feedback is scarce next to the replay sample: repeat it to about a third of the mix (max 20x).
  const oversample = options.oversample ?? Math.max(1, Math.min(20, Math.round(replayN / 2 / nFb)));
  const mix = concat([
    { ds: feedback, indices: trainIdx, times: oversample },
    { ds: replayPool, indices: replayIdx, times: 1 },
  ]);
  return { mix, replayN, oversample };
}

/** Fine-tunes the base's image network in place on the mix (train() with the base as its start). */
function fineTuneImage(
  options: RetrainOptions,
  base: LoadedModel,
  data: { name: string; mix: ImageDataset; test: ImageDataset },
  lr: number,
  log: (m: string) => void,
) {
  const meta = base.metadata;
  const recipe = isArchName(meta.arch) ? RECIPES[meta.arch] : undefined;
  return train({
    name: meta.name,
    arch: isArchName(meta.arch) ? meta.arch : 'fast', // only recorded: the base model is the start
    data: { name: data.name, train: data.mix, test: data.test },
    out: options.out,
    epochs: options.epochs ?? 2,
    batchSize: options.batchSize ?? Math.min(meta.training.batchSize, data.mix.n),
    lr,
    schedule: 'cosine',
    labelSmoothing: (meta.extra?.labelSmoothing as number | undefined) ?? recipe?.labelSmoothing ?? 0,
    augment: augmentOf(meta),
    normalization: meta.normalization,
    seed: options.seed ?? 1,
    validationSplit: 0,
    command: options.command ?? 'retrain',
    initialModel: base.model,
    signal: options.signal,
    onEpoch: (h, info) =>
      log(
        `image epoch ${h.epoch}/${info.epochs}: loss ${h.loss.toFixed(4)} acc ${(h.acc * 100).toFixed(2)}% (${(h.seconds ?? 0).toFixed(1)} s)`,
      ),
    log,
  });
}

function weightsDtype(meta: ModelMetadata): 'float32' | 'float16' {
  return (meta.weights?.dtype as 'float32' | 'float16' | undefined) ?? 'float32';
}

/**
 * Saves the fine-tuned networks as the candidate (the stroke part's record after its fine-tune, the
 * feedback among its sources), frees the trained objects and loads the candidate back from disk, so
 * that it is judged as saved, like hwr train does.
 */
async function saveAndReload(
  options: RetrainOptions,
  base: LoadedModel,
  trained: Awaited<ReturnType<typeof train>>,
  tuned: StrokeFineTuneResult | undefined,
  feedback: FeedbackSummary,
): Promise<LoadedModel> {
  const meta = base.metadata;
  const carried = candidateParts(base, tuned);
  const draft: ModelMetadata = {
    ...trained.metadata,
    ...carried.metadata,
    parentVersion: meta.version,
    dataset: {
      ...trained.metadata.dataset,
      sources: [...meta.dataset.sources, { path: feedback.source, sha256: feedback.sha256 }],
    },
  };
  await saveModel(trained.model, draft, options.out, { weights: weightsDtype(meta), parts: carried.nets });
  trained.model.dispose();
  for (const p of base.parts) p.model.dispose();
  return loadModel(options.out);
}

/** The sets both models are judged on: the (limited) original test split and the held-out feedback. */
interface JudgingSets {
  readonly datasetName: string;
  readonly test: ImageDataset;
  readonly holdout: ImageDataset;
}

type Evaluated = { test: EvalResult; holdout: EvalResult };

function evaluateOn(model: LoadedModel, sets: JudgingSets): Evaluated {
  const opts = { mistakes: 0 };
  return {
    test: evaluateModel(model, sets.test, { ...opts, datasetName: `${sets.datasetName} test` }),
    holdout: evaluateModel(model, sets.holdout, { ...opts, datasetName: 'feedback holdout' }),
  };
}

/**
 * The base's answers, taken before training (train() updates the very same model object in place);
 * for a fused model its fused answers too, on sets fixed now.
 */
async function judgeBase(
  base: LoadedModel,
  sets: JudgingSets,
  feedback: { fb: Awaited<ReturnType<typeof loadFeedback>>; split: ReturnType<typeof splitHoldout> },
  options: RetrainOptions,
  log: (m: string) => void,
) {
  const evaluated = evaluateOn(base, sets);
  const judging = await prepareFusedJudging(base, feedback.fb, feedback.split, options);
  if (judging)
    log(
      `fused model: judged on ${judging.validation.labels.length} ${judging.data.name} validation-writer drawings and ${judging.feedback.labels.length} held-out stroke corrections; fusion weights kept (image ${judging.weights.image}, strokes ${judging.weights.strokes})`,
    );
  return { evaluated, judging };
}

/**
 * Gates the reloaded candidate against the base, saves it with its final metadata (test accuracy,
 * the gate's verdict, how it was made) and frees it. Returns the gate's decision.
 */
async function gateAndSave(
  candidate: LoadedModel,
  base: { meta: ModelMetadata; evaluated: Evaluated; judging: FusedJudging | undefined },
  sets: JudgingSets,
  extra: { feedback: RetrainResult['feedback']; retrain: Record<string, unknown> },
  options: RetrainOptions,
  log: (m: string) => void,
): Promise<GateDecision> {
  const cand = evaluateOn(candidate, sets);
  const { gate, fused } = judgeCandidate(
    candidate,
    { test: [base.evaluated.test, cand.test], holdout: [base.evaluated.holdout, cand.holdout] },
    base.judging,
    options,
    log,
  );
  const final: ModelMetadata = {
    ...candidate.metadata,
    testAccuracy: cand.test.accuracy,
    ...(fused ? { fusion: candidateFusion(base.meta, fused.evidence) } : {}),
    extra: { ...candidate.metadata.extra, gate, feedback: extra.feedback, retrain: extra.retrain },
  };
  await saveModel(candidate.model, final, options.out, {
    weights: weightsDtype(base.meta),
    parts: Object.fromEntries(candidate.parts.map((p) => [p.name, p.model])),
  });
  disposeLoaded(candidate); // the base model object was trained in place and disposed before
  return gate;
}

/**
 * Fine-tunes the served model on stored corrections mixed with a replay sample of its original
 * training data, then gates the candidate against the base: no worse on the original test set and
 * better on held-out feedback. With `promote`, a passing candidate becomes the store's new current.
 */
export async function retrain(options: RetrainOptions): Promise<RetrainResult> {
  const log = options.log ?? (() => {});
  await initBackend({ log });
  const { baseArg, catalog, baseDir, base, meta } = await loadBase(options, log);
  const { fb, split, holdout } = await readFeedback(options, meta, log);
  const original = await loadOriginal(options, meta);
  const { datasetName, test } = original;
  const { mix, replayN, oversample } = fineTuneMix(options, meta, fb.data, split.train, original.train);
  log(
    `fine-tune set: ${split.train.length} feedback x${oversample} + ${replayN} replayed ${datasetName} images; held out ${holdout.n} feedback, ${test.n} test images`,
  );

  const sets: JudgingSets = { datasetName, test, holdout };
  const { evaluated, judging } = await judgeBase(base, sets, { fb, split }, options, log);
  const lr = options.lr ?? meta.training.lr / 10;
  const trained = await fineTuneImage(options, base, { name: datasetName, mix, test }, lr, log);
  const feedbackInfo = { ...fb.summary, train: split.train.length, holdout: holdout.n };
  const baseInfo = { name: meta.name, version: meta.version, dir: baseDir };
  const tuned = trained.interrupted ? undefined : await fineTuneStrokes(base, judging, options, log);
  if (trained.interrupted || tuned?.interrupted) {
    trained.model.dispose();
    for (const p of base.parts) p.model.dispose();
    return { candidateDir: resolve(options.out), base: baseInfo, feedback: feedbackInfo, interrupted: true };
  }

  const candidate = await saveAndReload(options, base, trained, tuned, fb.summary);
  const retrainInfo = {
    base: baseInfo,
    replay: replayN,
    oversample,
    lr,
    testSamples: test.n,
    ...(tuned ? { strokes: tuned.info } : {}),
  };
  const gate = await gateAndSave(
    candidate,
    { meta, evaluated, judging },
    sets,
    { feedback: feedbackInfo, retrain: retrainInfo },
    options,
    log,
  );

  const promoted =
    options.promote && gate.passed
      ? await promoteCandidate(catalog, { baseArg, baseDir, meta, gate }, options, log)
      : undefined;
  if (options.promote && !gate.passed)
    log(`not promoted: the gate failed; the candidate stays in ${options.out}`);
  return {
    candidateDir: resolve(options.out),
    base: baseInfo,
    feedback: feedbackInfo,
    gate,
    promoted,
    interrupted: false,
  };
}
