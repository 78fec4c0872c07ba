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
