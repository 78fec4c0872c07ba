import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { DataError, type DatasetOptions, type ImageDataset } from '../data/dataset.js';
import { loadSplit, type Split } from '../data/datasets.js';
import { PIXELS } from '../model/infer.js';
import { readMetadata } from '../model/io.js';
import type { ModelMetadata } from '../model/metadata.js';
import type { EvalResult, Mistake } from './evaluate.js';
import { buildReport, REPORT_FILES } from './report.js';

/**
 * A model directory's report made again by the current report code (charts, HTML, PNG plots) from
 * the figures its report.json stores: nothing is measured again. Evaluating again is not an option
 * for a shipped report: the same weights on the same images reproduce the accuracy and the
 * confusion matrix, but the float32 probabilities come out up to 1e-6 apart on another machine or
 * BLAS (summation order), so the log-loss and the ROC thresholds would change in their last digits.
 * The split the report names is read only for the pictures of its mistakes (their indices are
 * stored, their pixels are not), after checking it is the same data (its sha256s) and that each
 * stored mistake's true label is the split's label at its index.
 */

/** What report.json measured; copied as they are, and checked unchanged after the rebuild. */
export const MEASURED = [
  'n',
  'classes',
  'accuracy',
  'topK',
  'logLoss',
  'confusion',
  'perClass',
  'macro',
  'weighted',
  'roc',
  'notes',
  'mistakes',
  'model',
  'dataset',
  'seconds',
  'predictSeconds',
] as const;

type StoredMistake = Omit<Mistake, 'pixels'> & { trueLabel: string; predictedLabel: string };

interface StoredReport extends Omit<EvalResult, 'predictions' | 'mistakes'> {
  readonly mistakes: readonly StoredMistake[];
  readonly metadata: ModelMetadata | null;
  readonly history: ModelMetadata['training']['history'];
}

export interface Regenerated {
  /** report.json, report.html and the PNG plots (name -> content). */
  readonly files: Record<string, string | Uint8Array>;
  /** Measured fields of the rebuilt report.json that differ from the stored one (empty: identical). */
  readonly differences: string[];
  readonly accuracy: number;
  readonly dataset: string;
  readonly n: number;
}

/** "<dataset> <split>" as publishModel and `hwr evaluate` name a whole split. */
function splitOf(name: string): { dataset: string; split: Split } {
  const at = name.lastIndexOf(' ');
  const split = name.slice(at + 1);
  if (at <= 0 || (split !== 'test' && split !== 'train'))
    throw new DataError(
      `the report was measured on "${name}", not a whole "<dataset> test" or "<dataset> train" split: its mistakes cannot be found`,
    );
  return { dataset: name.slice(0, at), split };
}

/** The stored mistakes with their pixels from the split they index, after checking it is that split. */
function mistakesFrom(stored: StoredReport, ds: ImageDataset): Mistake[] {
  const hashes = (sources: readonly { sha256: string }[]) => sources.map((s) => s.sha256);
  if (ds.n !== stored.n || !isDeepStrictEqual(hashes(ds.sources), hashes(stored.dataset.sources)))
    throw new DataError(
      `"${stored.dataset.name}" here (${ds.n} samples, sha256 ${hashes(ds.sources).join(' ')}) is not the data the report measured (${stored.n}, ${hashes(stored.dataset.sources).join(' ')})`,
    );
  return stored.mistakes.map(({ trueLabel: _t, predictedLabel: _p, ...m }) => {
    if (ds.labels[m.index] !== m.label)
      throw new DataError(
        `mistake #${m.index}: the split's label is ${ds.labels[m.index]}, the report's ${m.label}`,
      );
    return { ...m, pixels: ds.images.slice(m.index * PIXELS, (m.index + 1) * PIXELS) };
  });
}

/** Rebuilds the report of the model in `dir` from its report.json; writes nothing. */
export async function regenerateReport(dir: string, data: DatasetOptions = {}): Promise<Regenerated> {
  const stored = JSON.parse(await readFile(join(dir, REPORT_FILES.json), 'utf8')) as StoredReport;
  const current = await readMetadata(dir);
  if (current.version !== stored.model.version)
    throw new DataError(
      `${dir} holds version ${current.version}, its report measured ${stored.model.version}: evaluate it (hwr evaluate --report) instead`,
    );
  const { dataset, split } = splitOf(stored.dataset.name);
  const mistakes = mistakesFrom(stored, await loadSplit(dataset, split, data));
  const { metadata, history, ...figures } = stored;
  const result: EvalResult = {
    ...figures,
    mistakes,
    predictions: { labels: new Uint8Array(0), predicted: new Uint16Array(0), probs: new Float32Array(0) },
  };
  // The metadata as measured: the header shows the model the figures belong to. The parts section
  // shows the directory's fusion as it is now (parts are fused after the image CNN's report was made).
  const files = await buildReport(result, {
    metadata: metadata ?? undefined,
    history,
    fusion: current.fusion,
  });
  const fresh = JSON.parse(files[REPORT_FILES.json] as string) as Record<string, unknown>;
  const old = stored as unknown as Record<string, unknown>;
  const differences = [...MEASURED, 'metadata', 'history'].filter(
    (k) => !isDeepStrictEqual(old[k], fresh[k]),
  );
  return { files, differences, accuracy: stored.accuracy, dataset: stored.dataset.name, n: stored.n };
}

/** Writes a regenerated report into the model directory, refusing one whose figures changed. */
export async function writeRegenerated(dir: string, regenerated: Regenerated): Promise<string[]> {
  if (regenerated.differences.length > 0)
    throw new DataError(
      `${dir}: ${regenerated.differences.join(', ')} of the rebuilt report.json differ from the stored one; nothing written`,
    );
  const paths: string[] = [];
  for (const [name, content] of Object.entries(regenerated.files)) {
    await writeFile(join(dir, name), content);
    paths.push(join(dir, name));
  }
  return paths;
}
