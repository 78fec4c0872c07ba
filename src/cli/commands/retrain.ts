import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { initBackend } from '../../engine/backend.js';
import { GATE_FAILED_EXIT } from '../../retrain/gate.js';
import { retrain } from '../../retrain/retrain.js';
import { PostgresDatabase } from '../../store/postgres-database.js';
import { type CliEdge, dataSettings, engineSettings } from '../config.js';
import { parseFloatOption, parseIntOption } from '../usage-error.js';

interface RetrainOpts {
  base: string;
  feedback: string;
  out: string;
  epochs: string;
  replay: string;
  holdout: string;
  tolerance: string;
  alpha: string;
  oversample?: string;
  lr?: string;
  seed: string;
  dataset?: string;
  dataDir?: string;
  testLimit?: string;
  strokeEpochs?: string;
  strokeReplay: string;
  strokeLr?: string;
  strokeDataDir?: string;
  promote?: boolean;
  json?: string;
}

export function registerRetrain(program: Command, edge: CliEdge): void {
  program
    .command('retrain')
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
    .option('--json <file>', 'also write the result (gate numbers included) as JSON')
    .action(async (opts: RetrainOpts) => {
      const controller = new AbortController();
      const stop = () => controller.abort();
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      const log = (m: string) => process.stderr.write(`${m}\n`);
      // A cluster's database (HWR_DATABASE_URL): the base is its current version, a promote goes
      // through it and every replica swaps.
      const { config } = edge;
      await initBackend({ ...engineSettings(config), log });
      const url = config.databaseUrl;
      const database = url ? await PostgresDatabase.open({ url }) : undefined;
      try {
        const result = await retrain({
          database,
          base: opts.base,
          feedback: opts.feedback,
          out: opts.out,
          epochs: parseIntOption('epochs', opts.epochs, 1),
          replay: parseIntOption('replay', opts.replay, 0),
          holdout: parseFloatOption('holdout', opts.holdout, 0.01, 0.9),
          oversample: opts.oversample ? parseIntOption('oversample', opts.oversample, 1) : undefined,
          lr: opts.lr ? parseFloatOption('lr', opts.lr, 1e-8, 1) : undefined,
          seed: parseIntOption('seed', opts.seed),
          gate: {
            tolerance: parseFloatOption('tolerance', opts.tolerance, 0, 1),
            alpha: parseFloatOption('alpha', opts.alpha, 0, 1),
          },
          dataset: opts.dataset,
          dataDir: opts.dataDir,
          datasetSettings: dataSettings(config),
          testLimit: opts.testLimit ? parseIntOption('test-limit', opts.testLimit, 1) : undefined,
          strokeEpochs: opts.strokeEpochs ? parseIntOption('stroke-epochs', opts.strokeEpochs, 1) : undefined,
          strokeReplay: parseIntOption('stroke-replay', opts.strokeReplay, 0),
          strokeLr: opts.strokeLr ? parseFloatOption('stroke-lr', opts.strokeLr, 1e-8, 1) : undefined,
          strokeDataDir: opts.strokeDataDir,
          promote: opts.promote,
          command: `hwr ${process.argv.slice(2).join(' ')}`,
          signal: controller.signal,
          log,
        });
        if (opts.json) await writeFile(opts.json, `${JSON.stringify(result, null, 2)}\n`);
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
      } finally {
        await database?.close();
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });
}
