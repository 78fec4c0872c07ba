import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { unipenDir } from '../../data/unipen-dataset.js';
import { loadUnipenStrokes, strokeDatasetKind } from '../../data/unipen-strokes.js';
import { initBackend } from '../../engine/backend.js';
import {
  type FusionScore,
  fitFusionWeight,
  type LabelledDrawings,
  partProbabilities,
  readStrokeFixture,
  samplesAsDrawings,
  scoreFusion,
} from '../../eval/fused.js';
import { loadModel, METADATA_FILE, writeModelDir } from '../../model/io.js';
import { type Fusion, ModelMetadata, type ModelPart, type StrokePartMetadata } from '../../model/metadata.js';
import { loadStrokePart, modelFromPartFiles, strokePartFiles } from '../../model/stroke-part-io.js';
import { type CliEdge, engineSettings, type HwrConfig } from '../config.js';
import { parseIntOption, UsageError } from '../usage-error.js';

interface FuseOpts {
  model: string;
  part: string;
  dataset: string;
  dataDir?: string;
  out?: string;
  fixture?: string | false;
  weights: string;
  steps: string;
}

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

function table(rows: [string, FusionScore][], weights: { image: number; strokes: number }): string {
  const head = `set          samples   image    strokes  fused (image ${weights.image}, strokes ${weights.strokes})`;
  return [
    head,
    ...rows.map(
      ([name, s]) =>
        `${name.padEnd(12)} ${String(s.samples).padStart(7)}   ${pct(s.image).padStart(6)}   ${pct(s.strokes).padStart(6)}   ${pct(s.fused)}`,
    ),
  ].join('\n');
}

/** The image model directory's own files (model, weights, report...), byte for byte; subfolders left out. */
async function imageModelFiles(dir: string): Promise<Record<string, Uint8Array>> {
  const files: Record<string, Uint8Array> = {};
  for (const e of await readdir(dir, { withFileTypes: true }))
    if (e.isFile() && e.name !== METADATA_FILE) files[e.name] = await readFile(join(dir, e.name));
  return files;
}

export function registerFuse(program: Command, edge: CliEdge): void {
  program
    .command('fuse')
    .description(
      'put a stroke part into a model directory: fit the log-linear fusion weight on validation writers, ' +
        'measure each part and the fusion on the writer-disjoint test split and the stroke fixture, write parts/fusion metadata',
    )
    .requiredOption(
      '--model <dir>',
      'image model directory (its model.json and weights.bin are kept byte for byte)',
    )
    .requiredOption('--part <dir>', 'stroke part written by `hwr train --arch strokes-*`')
    .option(
      '--dataset <name>',
      'pen-stroke dataset the weight is fitted on: unipen-digits | letters',
      'unipen-digits',
    )
    .option('--data-dir <dir>', 'folder with the UNIPEN files')
    .option('--out <dir>', 'fused model directory to write (default: --model, replaced atomically)')
    .option(
      '--fixture <path>',
      'stroke fixture to report on (never fitted on); default test/fixtures/strokes/<digits|letters>.json',
    )
    .option('--no-fixture', 'report on no fixture')
    .option('--weights <dtype>', "stroke part's weight file dtype: float16 | float32", 'float16')
    .option('--steps <n>', 'grid steps for the stroke weight in [0, 1]', '20')
    .action((opts: FuseOpts) => runFuse(opts, edge.config));
}

/** The image model and the stroke part as it will ship (its weights after the dtype round trip). */
async function loadParts(opts: FuseOpts & { weights: 'float16' | 'float32' }) {
  const image = await loadModel(opts.model);
  const trained = await loadStrokePart(opts.part);
  if (trained.metadata.classes.join(',') !== image.metadata.classes.join(','))
    throw new UsageError(
      `the part's classes (${trained.metadata.classes.join('')}) differ from the model's (${image.metadata.classes.join('')})`,
    );
  const { files, metadata } = await strokePartFiles(trained.model, trained.metadata, opts.weights);
  const net = { model: await modelFromPartFiles(files), features: metadata.features };
  return { image, net, partFiles: files, partMeta: metadata };
}

/** The fusion record: the weight fitted on validation writers, each set's accuracies and sizes. */
function fusionRecord(
  fit: ReturnType<typeof fitFusionWeight>,
  scores: [string, FusionScore][],
  fittedOn: { dataset: string; drawings: number; writers: number },
): Fusion {
  return {
    method: 'log-linear',
    weights: fit.weights,
    fittedOn:
      `${fittedOn.dataset} validation writers: ${fittedOn.drawings} drawings of ${fittedOn.writers} writers ` +
      'the stroke part never trained on (grid over the stroke weight, image weight = 1 - it)',
    accuracy: Object.fromEntries(scores.map(([n, s]) => [n, s.fused])),
    partAccuracy: {
      image: Object.fromEntries(scores.map(([n, s]) => [n, s.image])),
      strokes: Object.fromEntries(scores.map(([n, s]) => [n, s.strokes])),
    },
    samples: Object.fromEntries(scores.map(([n, s]) => [n, s.samples])),
  };
}

/** The stroke part's entry in the model's metadata: its training record nested, its test accuracy. */
function strokesPartRecord(partMeta: StrokePartMetadata, testAccuracy: number): ModelPart {
  const {
    name: _n,
    classes: _c,
    inputs,
    dataset,
    history,
    validationAccuracy,
    hwrVersion,
    createdAt,
    ...part
  } = partMeta;
  return {
    ...part,
    testAccuracy,
    training: { ...part.training, dataset, inputs, validationAccuracy, history, hwrVersion, createdAt },
  };
}

async function runFuse(opts: FuseOpts, config: HwrConfig): Promise<void> {
  const kind = strokeDatasetKind(opts.dataset);
  if (!kind) throw new UsageError(`--dataset must be unipen-digits or letters, got "${opts.dataset}"`);
  if (opts.weights !== 'float16' && opts.weights !== 'float32')
    throw new UsageError(`--weights must be float32 or float16, got "${opts.weights}"`);
  const steps = parseIntOption('steps', opts.steps, 1);
  const log = (m: string) => process.stderr.write(`${m}\n`);
  await initBackend({ ...engineSettings(config), log });
  const { image, net, partFiles, partMeta } = await loadParts({ ...opts, weights: opts.weights });
  const data = await loadUnipenStrokes(
    unipenDir({ dataDir: opts.dataDir, dataRoot: config.dataRoot }),
    kind,
    {
      dropSuspect: config.unipenSuspect !== 'keep',
    },
  );
  const sets: LabelledDrawings[] = [
    samplesAsDrawings('validation', data.validation),
    samplesAsDrawings('test', data.test),
  ];
  const fixturePath =
    opts.fixture === false
      ? undefined
      : (opts.fixture ?? join(REPO, 'test/fixtures/strokes', `${kind}.json`));
  if (fixturePath) sets.push(await readStrokeFixture(fixturePath, image.metadata.classes));
  const probs = sets.map((s) => partProbabilities(image, net, s));
  const fit = fitFusionWeight(probs[0], steps);
  const scores = probs.map((p) => [p.name, scoreFusion(p, fit.weights)] as [string, FusionScore]);
  const writers = new Set(data.validation.map((s) => s.writer)).size;
  const fusion = fusionRecord(fit, scores, { dataset: data.name, drawings: probs[0].labels.length, writers });
  const strokesPart = strokesPartRecord(partMeta, Object.fromEntries(scores).test.strokes);
  const metadata = ModelMetadata.parse({
    ...image.metadata,
    parts: { ...image.metadata.parts, strokes: strokesPart },
    fusion,
  });
  const files: Record<string, string | Uint8Array> = await imageModelFiles(opts.model);
  for (const [name, content] of Object.entries(partFiles)) files[`${strokesPart.dir}/${name}`] = content;
  files[METADATA_FILE] = `${JSON.stringify(metadata, null, 2)}\n`;
  const out = opts.out ?? opts.model;
  await writeModelDir(resolve(out), files);
  process.stdout.write(
    `${table(scores, fit.weights)}\n` +
      `fitted on validation: stroke weight grid ${fit.grid.map((g) => `${g.strokes}:${pct(g.accuracy)}`).join(' ')}\n` +
      `saved ${out} (image part unchanged, stroke part in ${out}/${strokesPart.dir}, ${partMeta.weights?.bytes} bytes of ${opts.weights} weights)\n`,
  );
}
