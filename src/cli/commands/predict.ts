import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { readImage } from '../../data/image-read.js';
import { initBackend } from '../../engine/backend.js';
import { predictProbs } from '../../model/infer.js';
import { loadModel } from '../../model/io.js';
import { rgbaToMnist } from '../../preprocess/index.js';
import { type CliEdge, engineSettings } from '../config.js';
import { parseIntOption, UsageError } from '../usage-error.js';

/** Largest image the CLI decodes (a 100 Mpx scan); libvips shrinks it while decoding. */
export const CLI_MAX_PIXELS = 100_000_000;

export async function readFileBytes(file: string): Promise<Uint8Array> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new Error(`cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

export function registerPredict(program: Command, edge: CliEdge): void {
  program
    .command('predict')
    .description('classify PNG/JPEG images of handwritten characters (any size, either polarity)')
    .argument('<images...>', 'image files')
    .requiredOption('--model <dir>', 'model directory (model.json + weights.bin + metadata.json)')
    .option('--top <k>', 'how many classes to list', '3')
    .option('--json', 'print JSON lines instead of text')
    .action(async (images: string[], opts: { model: string; top: string; json?: boolean }) => {
      const top = parseIntOption('top', opts.top, 1);
      await initBackend(engineSettings(edge.config));
      const { model, metadata } = await loadModel(opts.model);
      // A bad file is reported and skipped: the others are still read; the exit code says so at the end.
      const failed: string[] = [];
      for (const file of images) {
        let pixels: Uint8Array;
        try {
          pixels = rgbaToMnist(await readImage(await readFileBytes(file), { maxPixels: CLI_MAX_PIXELS }));
        } catch (err) {
          console.error(`hwr predict: ${file}: ${(err as Error).message}`);
          failed.push(file);
          continue;
        }
        const probs = predictProbs(model, pixels, 1, metadata.normalization);
        const ranked = [...probs]
          .map((p, i) => ({ label: metadata.classes[i], p }))
          .sort((a, b) => b.p - a.p)
          .slice(0, Math.min(top, metadata.classes.length));
        if (opts.json) {
          console.log(JSON.stringify({ file, label: ranked[0].label, confidence: ranked[0].p, top: ranked }));
        } else {
          const rest = ranked.map((r) => `${r.label} ${(r.p * 100).toFixed(1)}%`).join(', ');
          console.log(`${file}: ${ranked[0].label} (${(ranked[0].p * 100).toFixed(1)}%) — top ${rest}`);
        }
      }
      if (failed.length)
        throw new UsageError(
          `${failed.length} of ${images.length} images could not be read: ${failed.join(', ')}`,
        );
    });
}
