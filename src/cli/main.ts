import { Command, CommanderError } from 'commander';
import { z } from 'zod';
import { type ErrorData, errorData } from '../util/errors.js';
import { VERSION } from '../version.js';
import { registerCompare } from './commands/compare.js';
import { registerEvaluate } from './commands/evaluate.js';
import { registerFeedback } from './commands/feedback.js';
import { registerFuse } from './commands/fuse.js';
import { registerModel } from './commands/model.js';
import { registerModels } from './commands/models.js';
import { registerPredict } from './commands/predict.js';
import { registerRead } from './commands/read.js';
import { registerRetrain } from './commands/retrain.js';
import { registerServe } from './commands/serve.js';
import { registerTrain } from './commands/train.js';
import { type CliEdge, COMMAND_CONFIG, type ConfigFlags, type HwrConfig, parseConfig } from './config.js';

/**
 * The CLI edge: an hwr error (or a zod error from a file or value that fails its schema) is data, a
 * code and a message printed without a stack trace (exit 1); anything else is a bug and keeps its stack.
 */
function userError(err: unknown): ErrorData | undefined {
  if (err instanceof z.ZodError) return { code: 'invalid_input', message: err.message };
  return errorData(err);
}

/** `--backend` / `--threads` override HWR_BACKEND / HWR_THREADS. */
function globalFlags(opts: { backend?: string; threads?: string }): ConfigFlags {
  return {
    ...(opts.backend !== undefined && { backend: { value: opts.backend, flag: '--backend' } }),
    ...(opts.threads !== undefined && { threads: { value: opts.threads, flag: '--threads' } }),
  };
}

/** The name under `hwr` of the command that runs (`models` for `hwr models list`). */
function commandName(program: Command, action: Command): string {
  let cmd = action;
  while (cmd.parent && cmd.parent !== program) cmd = cmd.parent;
  return cmd.name();
}

export function buildProgram(): Command {
  const program = new Command('hwr')
    .description('Handwritten character recognition: train, evaluate, serve and improve CNNs on the CPU')
    .version(VERSION)
    .showHelpAfterError()
    .option('--backend <name>', 'TF.js backend: tensorflow | wasm | cpu (default: HWR_BACKEND, else fastest)')
    .option('--threads <n>', 'threads for the wasm backend (default: HWR_THREADS, else 2)');
  // The one place the environment is read: once, before any command runs, the variables that
  // command uses (src/cli/config.ts).
  let config: HwrConfig | undefined;
  const edge: CliEdge = {
    get config() {
      if (!config) throw new Error('the configuration is read before a command runs (preAction)');
      return config;
    },
  };
  program.hook('preAction', (cmd, action) => {
    const flags = globalFlags(cmd.opts<{ backend?: string; threads?: string }>());
    config = parseConfig(process.env, flags, COMMAND_CONFIG[commandName(program, action)]);
  });
  registerTrain(program, edge);
  registerEvaluate(program, edge);
  registerCompare(program, edge);
  registerFuse(program, edge);
  registerPredict(program, edge);
  registerRead(program, edge);
  registerModel(program);
  registerModels(program, edge);
  registerServe(program, edge);
  registerFeedback(program);
  registerRetrain(program, edge);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram().exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode);
    const data = userError(err);
    if (data) {
      console.error(`hwr: ${data.message}`);
      process.exit(1);
    }
    throw err;
  }
}
