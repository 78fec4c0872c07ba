import { writeFile } from 'node:fs/promises';
import { Command } from 'commander';
import { initBackend } from '../../engine/backend.js';
import { GATE_FAILED_EXIT } from '../../retrain/gate.js';
import { type RetrainOptions, type RetrainResult, retrain } from '../../retrain/retrain.js';
import { type RetrainParams, safeParseRetrainFlags } from '../../schema/retrain.js';
import { PostgresDatabase } from '../../store/postgres-database.js';
import { type CliEdge, dataSettings, engineSettings, type HwrConfig } from '../config.js';
import { UsageError } from '../usage-error.js';

/** What commander gives: the flags of RetrainParams as strings (promote as a boolean), and the paths. */
interface RetrainOpts extends Record<string, unknown> {
  base: string;
  feedback: string;
  out: string;
  dataset?: string;
  dataDir?: string;
  strokeDataDir?: string;
  json?: string;
}

/** `hwr retrain` with its options and no action: the registration adds the action, tests parse with it. */
export function retrainCommand(): Command {
  return new Command('retrain')
    .description(
      'fine-tune a served model on stored feedback (+ replayed training data), gate it against the base, optionally promote it',
    )
    .requiredOption(
      '--base <dir>',
      'the served model: a model dir or a store dir (its current), e.g. models/digits',
    )
    .requiredOption(
      '--feedback <path>',
      'feedback.sqlite, its folder (hwr serve --data-dir), an exported dataset folder, or "database" (HWR_DATABASE_URL)',
    )
    .requiredOption('--out <dir>', 'where the candidate model is written')
    .option('--epochs <n>', 'fine-tuning epochs', '2')
    .option('--replay <n>', 'original training images mixed in against forgetting', '5000')
    .option('--holdout <x>', 'share of the feedback held out to judge the candidate', '0.2')
    .option('--tolerance <x>', 'largest accepted test accuracy drop (absolute)', '0.002')
    .option('--alpha <x>', 'McNemar level: significantly worse on the test set fails the gate', '0.05')
    .option('--oversample <n>', 'repeat each feedback sample n times per epoch (default: ~1/3 of the mix)')
    .option('--lr <x>', "learning rate (default: a tenth of the base model's)")
    .option('--seed <n>', 'random seed', '1')
    .option('--dataset <name>', "dataset to replay and test on (default: the base model's)")
    .option('--data-dir <dir>', 'folder with the dataset files')
    .option(
      '--test-limit <n>',
      'test on the first n test images and n validation-writer drawings only (quick runs)',
    )
    .option('--stroke-epochs <n>', 'fused models: stroke part fine-tuning epochs (default: --epochs)')
    .option('--stroke-replay <n>', 'fused models: UNIPEN training-writer drawings mixed in', '2000')
    .option('--stroke-lr <x>', "fused models: stroke learning rate (default: a tenth of the part's)")
    .option(
      '--stroke-data-dir <dir>',
      'fused models: folder with the UNIPEN files (default: datasets/unipen)',
    )
    .option('--promote', 'add the candidate to the store and make it current if the gate passes')
    .option('--json <file>', 'also write the result (gate numbers included) as JSON');
}

/** The retrain parameters of the command line, checked by their schema; a bad value is a usage error. */
export function retrainParamsOf(opts: Readonly<Record<string, unknown>>): RetrainParams {
  const parsed = safeParseRetrainFlags(opts);
  if (!parsed.success) throw new UsageError(parsed.errors.join('\n'));
  return parsed.data;
}

/** What retrain() gets from the command line and the configuration. */
function retrainOptions(
  opts: RetrainOpts,
  config: HwrConfig,
): Omit<RetrainOptions, 'database' | 'signal' | 'log'> {
  const p = retrainParamsOf(opts);
  return {
    base: opts.base,
    feedback: opts.feedback,
    out: opts.out,
    epochs: p.epochs,
    replay: p.replay,
    holdout: p.holdout,
    oversample: p.oversample,
    lr: p.lr,
    seed: p.seed,
    gate: { tolerance: p.tolerance, alpha: p.alpha },
    dataset: opts.dataset,
    dataDir: opts.dataDir,
    datasetSettings: dataSettings(config),
    testLimit: p.testLimit,
    strokeEpochs: p.strokeEpochs,
    strokeReplay: p.strokeReplay,
    strokeLr: p.strokeLr,
    strokeDataDir: opts.strokeDataDir,
    promote: p.promote,
    command: `hwr ${process.argv.slice(2).join(' ')}`,
  };
}

/** The result as a line on stdout and an exit code: 130 interrupted, GATE_FAILED_EXIT rejected. */
function report(result: RetrainResult): void {
  if (result.interrupted) {
    process.exitCode = 130;
    return;
  }
  const verdict = result.promoted
    ? `promoted as ${result.promoted}`
    : result.gate?.passed
      ? 'gate passed (not promoted: no --promote)'
      : 'gate failed, not promoted';
  console.log(`candidate ${result.candidateDir}: ${verdict}`);
  if (!result.gate?.passed) process.exitCode = GATE_FAILED_EXIT;
}

async function runRetrain(opts: RetrainOpts, config: HwrConfig): Promise<void> {
  const options = retrainOptions(opts, config);
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const log = (m: string) => process.stderr.write(`${m}\n`);
  await initBackend({ ...engineSettings(config), log });
  // A cluster's database (HWR_DATABASE_URL): the base is its current version, a promote goes
  // through it and every replica swaps.
  const url = config.databaseUrl;
  const database = url ? await PostgresDatabase.open({ url }) : undefined;
  try {
    const result = await retrain({ ...options, database, signal: controller.signal, log });
    if (opts.json) await writeFile(opts.json, `${JSON.stringify(result, null, 2)}\n`);
    report(result);
  } finally {
    await database?.close();
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

export function registerRetrain(program: Command, edge: CliEdge): void {
  const command = retrainCommand().copyInheritedSettings(program);
  program.addCommand(command.action((opts: RetrainOpts) => runRetrain(opts, edge.config)));
}
