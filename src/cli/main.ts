import { Command, CommanderError } from 'commander';
import { VERSION } from '../version.js';
import { registerCompare } from './commands/compare.js';
import { registerEvaluate } from './commands/evaluate.js';
import { registerFeedback } from './commands/feedback.js';
import { registerFuse } from './commands/fuse.js';
import { registerModel } from './commands/model.js';
import { registerModels } from './commands/models.js';
import { registerPredict } from './commands/predict.js';
import { registerRetrain } from './commands/retrain.js';
import { registerServe } from './commands/serve.js';
import { registerTrain } from './commands/train.js';

/** Errors whose message is the whole story for a CLI user (no stack trace). */
function isUserError(err: unknown): err is Error {
  return (
    err instanceof Error &&
    [
      'DataError',
      'ModelError',
      'UsageError',
      'BackendError',
      'PreprocessError',
      'ZodError',
      'HttpError',
    ].includes(err.name)
  );
}

export function buildProgram(): Command {
  const program = new Command('hwr')
    .description('Handwritten character recognition: train, evaluate, serve and improve CNNs on the CPU')
    .version(VERSION)
    .showHelpAfterError()
    .option('--backend <name>', 'TF.js backend: tensorflow | wasm | cpu (default: HWR_BACKEND, else fastest)')
    .option('--threads <n>', 'threads for the wasm backend (default: HWR_THREADS, else 2)');
  program.hook('preAction', (cmd) => {
    const { backend, threads } = cmd.opts<{ backend?: string; threads?: string }>();
    if (backend) process.env.HWR_BACKEND = backend;
    if (threads) process.env.HWR_THREADS = threads;
  });
  registerTrain(program);
  registerEvaluate(program);
  registerCompare(program);
  registerFuse(program);
  registerPredict(program);
  registerModel(program);
  registerModels(program);
  registerServe(program);
  registerFeedback(program);
  registerRetrain(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram().exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode);
    if (isUserError(err)) {
      console.error(`hwr: ${err.message}`);
      process.exit(1);
    }
    throw err;
  }
}
