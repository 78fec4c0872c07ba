import cliProgress from 'cli-progress';
import type { EpochHistory } from '../model/metadata.js';
import type { BatchProgress } from './trainer.js';

export interface ProgressReporter {
  onBatch(p: BatchProgress): void;
  onEpoch(h: EpochHistory, info: { epochs: number }): void;
  stop(): void;
}

function pct(x: number | undefined): string {
  return x === undefined ? '-' : `${(x * 100).toFixed(2)}%`;
}

/** A live bar on a terminal; one line per epoch otherwise (CI logs, pipes). */
export function progressReporter(stream: NodeJS.WriteStream = process.stderr): ProgressReporter {
  const tty = Boolean(stream.isTTY);
  const bar = tty
    ? new cliProgress.SingleBar(
        {
          stream,
          format:
            'epoch {epoch}/{epochs} {bar} {value}/{total} | {ips} img/s | ETA {eta_formatted} | loss {loss} acc {acc}',
          hideCursor: true,
          clearOnComplete: true,
          etaBuffer: 50,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  let active = false;
  return {
    onBatch(p) {
      if (!bar) return;
      const payload = {
        epoch: p.epoch + 1,
        epochs: p.epochs,
        ips: p.imagesPerSecond.toFixed(0),
        loss: p.loss.toFixed(4),
        acc: pct(p.acc),
      };
      if (!active) {
        bar.start(p.batches, p.batch, payload);
        active = true;
      } else bar.update(p.batch, payload);
    },
    onEpoch(h, { epochs }) {
      if (active) {
        bar?.stop();
        active = false;
      }
      const val = h.valAcc === undefined ? '' : ` | val loss ${h.valLoss?.toFixed(4)} acc ${pct(h.valAcc)}`;
      stream.write(
        `epoch ${h.epoch}/${epochs}: loss ${h.loss.toFixed(4)} acc ${pct(h.acc)}${val} | lr ${h.lr?.toExponential(2)} | ${h.seconds?.toFixed(1)} s\n`,
      );
    },
    stop() {
      if (active) bar?.stop();
      active = false;
    },
  };
}
