import { basename, dirname, join } from 'node:path';
import { DataError } from '../data/dataset.js';
import { unipenDir } from '../data/unipen-dataset.js';
import {
  loadUnipenStrokes,
  type StrokeSample,
  strokeDatasetKind,
  type UnipenStrokeSplits,
} from '../data/unipen-strokes.js';
import type { LoadedPart } from '../model/io.js';
import type { ModelMetadata, ModelPart } from '../model/metadata.js';
import type { Stroke } from '../preprocess/index.js';
import { DEFAULT_TRAJECTORY_AUGMENT, type TrajectoryAugmentOptions } from '../preprocess/stroke-augment.js';
import { STROKE_RECIPE, trainStrokePart } from '../train/stroke-trainer.js';
import { deriveSeed, mulberry32, permutation } from '../util/random.js';

/** The stroke part of a fused model (metadata `parts` entry reading strokes), if it has one. */
export function strokePartOf(parts: readonly LoadedPart[]): LoadedPart | undefined {
  return parts.find((p) => p.spec.input === 'strokes');
}

/**
 * The UNIPEN kind the stroke part was trained on: its training record's dataset, else the model's
 * dataset, else its classes (digits or the 26 case-folded letters).
 */
function strokeKindOf(meta: ModelMetadata, part: ModelPart): 'digits' | 'letters' {
  const trained = (part.training?.dataset as { name?: unknown } | undefined)?.name;
  const kind =
    (typeof trained === 'string' ? strokeDatasetKind(trained) : undefined) ??
    strokeDatasetKind(meta.dataset.name) ??
    (meta.classes.length === 10 ? 'digits' : meta.classes.length === 26 ? 'letters' : undefined);
  if (!kind)
    throw new DataError(
      `cannot tell which pen data the stroke part of "${meta.name}" was trained on (dataset "${meta.dataset.name}", ${meta.classes.length} classes)`,
    );
  return kind;
}

/** Loads the real pen data the stroke part was trained on (its writers split as `hwr train` splits them). */
export async function loadStrokeReplayData(
  meta: ModelMetadata,
  part: ModelPart,
  dataDir: string | undefined,
): Promise<UnipenStrokeSplits> {
  const kind = strokeKindOf(meta, part);
  const data = await loadUnipenStrokes(unipenDir({ dataDir }), kind);
  if (data.classes.join('\u0000') !== meta.classes.join('\u0000'))
    throw new DataError(
      `UNIPEN ${kind} has classes [${data.classes.join(' ')}], the model [${meta.classes.join(' ')}]`,
    );
  return data;
}

/** Every k-th sample, so a limited set still spans every writer (data are ordered by writer). */
export function spread<T>(items: readonly T[], limit: number | undefined): T[] {
  if (limit === undefined || limit >= items.length) return items.slice();
  const step = items.length / limit;
  return Array.from({ length: limit }, (_, i) => items[Math.floor(i * step)]);
}

function augmentOf(part: ModelPart): TrajectoryAugmentOptions | undefined {
  const a = part.training?.augment as TrajectoryAugmentOptions | null | undefined;
  if (a === null) return undefined; // trained on the drawings as written
  return a && typeof a.affine === 'object' ? a : DEFAULT_TRAJECTORY_AUGMENT;
}

const numberOr = (v: unknown, fallback: number) =>
  typeof v === 'number' && Number.isFinite(v) ? v : fallback;

export interface StrokeFineTuneOptions {
  readonly meta: ModelMetadata;
  readonly part: LoadedPart;
  /** The training share of the corrections that came with strokes (labels: class indices). */
  readonly feedback: readonly { strokes: Stroke[]; label: number }[];
  readonly data: UnipenStrokeSplits;
  /** UNIPEN training-writer drawings mixed in against forgetting (sampled, seeded). */
  readonly replay: number;
  readonly oversample?: number;
  readonly epochs: number;
  readonly lr?: number;
  readonly seed: number;
  /** Candidate directory: the fine-tune's checkpoint goes beside it. */
  readonly out: string;
  /** Validation writers' drawings the trainer reports after each epoch (the gate uses the same). */
  readonly validation: readonly StrokeSample[];
  readonly command: string;
  readonly signal?: AbortSignal;
  readonly log: (message: string) => void;
}

export interface StrokeFineTuneResult {
  readonly interrupted: boolean;
  /** The part's metadata entry for the candidate (weights are recorded when it is saved). */
  readonly spec: ModelPart;
  readonly info: { feedback: number; oversample: number; replay: number; lr: number; epochs: number };
}

/**
 * Fine-tunes a fused model's stroke part in place (part.model) with the stroke trainer: the stroke
 * corrections (repeated to about a third of the mix) plus replayed UNIPEN training writers, the
 * part's own augmentation and label smoothing, a tenth of its learning rate with cosine decay, seeded.
 */
export async function fineTuneStrokePart(o: StrokeFineTuneOptions): Promise<StrokeFineTuneResult> {
  const t = o.part.spec.training ?? {};
  const replayN = Math.min(o.replay, o.data.train.length);
  const replayIdx = permutation(o.data.train.length, mulberry32(deriveSeed(o.seed, 'stroke-replay')));
  const replay = Array.from(replayIdx.subarray(0, replayN), (i) => o.data.train[i]);
  const nFb = o.feedback.length;
  const oversample = o.oversample ?? Math.max(1, Math.min(20, Math.round(replayN / 2 / Math.max(1, nFb))));
  const corrections: StrokeSample[] = o.feedback.map((f, i) => ({
    strokes: f.strokes,
    label: f.label,
    writer: 'feedback',
    id: `feedback/${i}`,
  }));
  const train = [...Array.from({ length: oversample }, () => corrections).flat(), ...replay];
  // A tenth of the rate the part was first trained with (kept across rounds, so it does not shrink 10x each time).
  const firstLr = numberOr(t.firstLr, numberOr(t.lr, STROKE_RECIPE.lr));
  const lr = o.lr ?? firstLr / 10;
  o.log(
    `strokes fine-tune set: ${nFb} stroke corrections x${oversample} + ${replayN} replayed ${o.data.name} drawings (training writers); validation ${o.validation.length} drawings`,
  );
  const trained = await trainStrokePart({
    name: o.part.name,
    arch: o.part.spec.arch,
    initialModel: o.part.model,
    data: { ...o.data, train, validation: [...o.validation], test: [] },
    out: join(dirname(o.out), `${basename(o.out)}-strokes`),
    spec: o.part.spec.features,
    epochs: o.epochs,
    batchSize: Math.min(numberOr(t.batchSize, STROKE_RECIPE.batchSize), train.length),
    lr,
    schedule: 'cosine',
    labelSmoothing: numberOr(t.labelSmoothing, STROKE_RECIPE.labelSmoothing),
    augment: augmentOf(o.part.spec),
    seed: o.seed,
    command: o.command,
    signal: o.signal,
    onEpoch: (h, info) =>
      o.log(
        `strokes epoch ${h.epoch}/${info.epochs}: loss ${h.loss.toFixed(4)} acc ${(h.acc * 100).toFixed(2)}% validation ${((h.valAcc ?? 0) * 100).toFixed(2)}% (${(h.seconds ?? 0).toFixed(1)} s)`,
      ),
  });
  const info = { feedback: nFb, oversample, replay: replayN, lr, epochs: o.epochs };
  const spec: ModelPart = {
    ...o.part.spec,
    testAccuracy: undefined, // measured on the base's test writers by hwr fuse; the gate reports the candidate's
    training: {
      ...trained.metadata.training,
      dataset: t.dataset ?? { name: o.data.name },
      firstLr,
      finetune: { ...info, dataset: o.data.name, fromCommand: t.command ?? null },
    },
  };
  return { interrupted: trained.interrupted, spec, info };
}
