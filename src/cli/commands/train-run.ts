import type { EpochHistory } from '../../model/metadata.js';
import type { BatchProgress } from '../../train/epoch.js';
import { progressReporter } from '../../train/progress.js';

/**
 * Ctrl-C (or SIGTERM) stops training after the batch in progress, which saves a checkpoint; a second
 * Ctrl-C quits at once. `release` removes the handlers.
 */
export function stopOnSignal(): { signal: AbortSignal; release: () => void } {
  const controller = new AbortController();
  const stop = () => {
    if (controller.signal.aborted) process.exit(130); // second Ctrl-C: give up at once
    process.stderr.write('\nstopping after this batch (checkpoint)... press Ctrl-C again to quit now\n');
    controller.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return {
    signal: controller.signal,
    release: () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    },
  };
}

/** What a training command hands its trainer: how it was run, when to stop, where progress goes. */
export interface TrainHooks {
  readonly command: string;
  readonly signal: AbortSignal;
  readonly onBatch: (p: BatchProgress) => void;
  readonly onEpoch: (h: EpochHistory, info: { epochs: number }) => void;
  readonly log: (message: string) => void;
}

/**
 * Runs a trainer with a progress display on stderr and Ctrl-C handling: the result, or undefined
 * (exit code 130) when it was interrupted, its checkpoint saved for --resume.
 */
export async function trainWithProgress<R extends { interrupted: boolean }>(
  log: (message: string) => void,
  run: (hooks: TrainHooks) => Promise<R>,
): Promise<R | undefined> {
  const stopper = stopOnSignal();
  const progress = progressReporter();
  try {
    const result = await run({
      command: `hwr ${process.argv.slice(2).join(' ')}`,
      signal: stopper.signal,
      onBatch: (p) => progress.onBatch(p),
      onEpoch: (h, info) => progress.onEpoch(h, info),
      log,
    });
    progress.stop();
    if (!result.interrupted) return result;
    process.exitCode = 130;
    return undefined;
  } finally {
    stopper.release();
  }
}
