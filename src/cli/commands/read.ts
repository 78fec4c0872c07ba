import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { readImage } from '../../data/image-read.js';
import { initBackend } from '../../engine/backend.js';
import { PIXELS, predictProbs } from '../../model/infer.js';
import { loadModel } from '../../model/io.js';
import { type ReadCharacter, readLine } from '../../preprocess/index.js';
import { type CliEdge, engineSettings } from '../config.js';
import { parseIntOption, UsageError } from '../usage-error.js';
import { CLI_MAX_PIXELS } from './predict.js';

export function registerRead(program: Command, edge: CliEdge): void {
  program
    .command('read')
    .description('read a line of handwriting (a number, a word) from PNG/JPEG photos or scans, left to right')
    .argument('<images...>', 'image files')
    .requiredOption('--model <dir>', 'model directory (models/digits for numbers, models/letters for words)')
    .option('--top <k>', 'how many classes to list per character', '3')
    .option('--json', 'print one JSON line per file (text, and each character with its box and top-k)')
    .action(async (images: string[], opts: { model: string; top: string; json?: boolean }) => {
      const top = parseIntOption('top', opts.top, 1);
      await initBackend(engineSettings(edge.config));
      const { model, metadata } = await loadModel(opts.model);
      for (const file of images) {
        const bytes = await readFile(file).catch(() => {
          throw new UsageError(`cannot read image ${file}`);
        });
        const classify = (crops: readonly Uint8Array[]): Float32Array[] => {
          const pixels = new Uint8Array(crops.length * PIXELS);
          crops.forEach((c, i) => {
            pixels.set(c, i * PIXELS);
          });
          const probs = predictProbs(model, pixels, crops.length, metadata.normalization);
          const k = metadata.classes.length;
          return crops.map((_, i) => probs.slice(i * k, (i + 1) * k));
        };
        let read: ReadCharacter[];
        let scale: number;
        try {
          const image = await readImage(bytes, { maxPixels: CLI_MAX_PIXELS });
          read = await readLine(image, classify);
          scale = Math.max(image.original.width, image.original.height) / Math.max(image.width, image.height);
        } catch (err) {
          throw new UsageError(`${file}: ${(err as Error).message}`);
        }
        const characters = read.map((c) => {
          const ranked = [...c.probs]
            .map((p, j) => ({ label: metadata.classes[j], p }))
            .sort((a, b) => b.p - a.p)
            .slice(0, Math.min(top, metadata.classes.length));
          const { x, y, width, height } = c.box;
          const box = {
            x: Math.round(x * scale),
            y: Math.round(y * scale),
            width: Math.round(width * scale),
            height: Math.round(height * scale),
          };
          return { box, label: ranked[0].label, confidence: ranked[0].p, top: ranked };
        });
        const text = characters.map((c) => c.label).join('');
        if (opts.json) {
          console.log(JSON.stringify({ file, text, characters }));
        } else {
          const detail = characters.map((c) => `${c.label} ${(c.confidence * 100).toFixed(0)}%`).join(', ');
          console.log(`${file}: ${text} (${detail})`);
        }
      }
    });
}
