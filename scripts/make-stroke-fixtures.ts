/**
 * Writes test/fixtures/strokes/{digits,letters}.json from UNIPEN held-out writers only (never trained on):
 * 600 non-suspect samples each, balanced over classes, strokes rescaled to integer canvas-like units.
 *
 *   npx tsx scripts/make-stroke-fixtures.ts [--data datasets/unipen] [--out test/fixtures/strokes]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { isHeldOutWriter, readUnipen, type UnipenSample } from '../src/data/unipen.js';
import { UNIPEN_PROJECT_DIR } from '../src/data/unipen-dataset.js';

/** Longer side of every fixture drawing, in canvas-like units (a 280 px pad with a margin). */
const DRAWING_SIZE = 200;
const MARGIN = 40;
/** Points closer than this fraction of the drawing size to the last kept one are dropped. */
const MIN_STEP = 0.01;
const PER_FILE = 600;

export interface StrokeFixture {
  readonly id: string;
  /** Class label: digit, or letter folded to lower case. */
  readonly label: string;
  /** The character as written (case kept). */
  readonly original: string;
  readonly source: string;
  readonly writer: string;
  readonly strokes: number[][][];
}

/** Stable pseudo-random order (so reruns give the same fixtures). */
function rank(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

function toCanvasUnits(sample: UnipenSample): number[][][] {
  const [ppx, ppy] = sample.pointsPerInch;
  const pts = sample.strokes.map((s) => s.map(([x, y]) => [x / ppx, y / ppy]));
  const all = pts.flat();
  const minX = Math.min(...all.map((p) => p[0]));
  const minY = Math.min(...all.map((p) => p[1]));
  const extent = Math.max(Math.max(...all.map((p) => p[0])) - minX, Math.max(...all.map((p) => p[1])) - minY);
  const k = extent > 0 ? DRAWING_SIZE / extent : 1;
  const step = MIN_STEP * DRAWING_SIZE;
  return pts
    .map((stroke) => {
      const out: number[][] = [];
      for (let i = 0; i < stroke.length; i++) {
        const p = [
          Math.round((stroke[i][0] - minX) * k) + MARGIN,
          Math.round((stroke[i][1] - minY) * k) + MARGIN,
        ];
        const last = out[out.length - 1];
        const isEnd = i === stroke.length - 1;
        if (last && Math.hypot(p[0] - last[0], p[1] - last[1]) < step) {
          // Keep the stroke's end point, replacing a too-close previous one (but never the start).
          if (isEnd && out.length > 1) out[out.length - 1] = p;
          continue;
        }
        out.push(p);
      }
      return out;
    })
    .filter((s) => s.length > 0);
}

/** Round-robin over classes (and, inside a letter class, over upper/lower case) up to `total`. */
function balanced(
  samples: UnipenSample[],
  classOf: (s: UnipenSample) => string,
  total: number,
): UnipenSample[] {
  const byClass = new Map<string, UnipenSample[][]>();
  for (const s of [...samples].sort((a, b) => rank(a.id) - rank(b.id))) {
    const c = classOf(s);
    const groups = byClass.get(c) ?? [[], []];
    groups[s.label === c ? 0 : 1].push(s);
    byClass.set(c, groups);
  }
  const classes = [...byClass.keys()].sort();
  const picked: UnipenSample[] = [];
  for (let round = 0; picked.length < total; round++) {
    let any = false;
    for (const c of classes) {
      if (picked.length >= total) break;
      const [a, b] = byClass.get(c)!;
      // Alternate case groups: round 0 takes group 0, round 1 group 1, ... falling back to the other.
      const first = round % 2 === 0 ? a : b;
      const next = first.shift() ?? (first === a ? b : a).shift();
      if (next) {
        picked.push(next);
        any = true;
      }
    }
    if (!any) throw new Error(`only ${picked.length} samples available, wanted ${total}`);
  }
  return picked;
}

function fixture(s: UnipenSample, label: string): StrokeFixture {
  return {
    id: s.id,
    label,
    original: s.label,
    source: s.source,
    writer: s.writer,
    strokes: toCanvasUnits(s),
  };
}

function toJson(description: string, samples: StrokeFixture[]): string {
  const lines = samples.map((s) => `    ${JSON.stringify(s)}`);
  return `{\n  "description": ${JSON.stringify(description)},\n  "samples": [\n${lines.join(',\n')}\n  ]\n}\n`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      data: { type: 'string', default: UNIPEN_PROJECT_DIR },
      out: { type: 'string', default: 'test/fixtures/strokes' },
    },
  });
  const dir = values.data!;
  const usable = (s: UnipenSample) => !s.suspect && isHeldOutWriter(s.source, s.writer);
  const digits = (await readUnipen(dir, 'digits')).filter(usable);
  const letters = [...(await readUnipen(dir, 'upper')), ...(await readUnipen(dir, 'lower'))].filter(usable);
  const note =
    'UNIPEN train_r01_v07 (CC BY 4.0), held-out writers only (src/data/unipen.ts isHeldOutWriter), non-suspect; ' +
    `strokes in canvas-like units (longer side ${DRAWING_SIZE}, margin ${MARGIN}, y down), made by scripts/make-stroke-fixtures.ts`;
  const d = balanced(digits, (s) => s.label, PER_FILE).map((s) => fixture(s, s.label));
  const l = balanced(letters, (s) => s.label.toLowerCase(), PER_FILE).map((s) =>
    fixture(s, s.label.toLowerCase()),
  );
  await mkdir(values.out!, { recursive: true });
  for (const [name, samples] of [
    ['digits.json', d],
    ['letters.json', l],
  ] as const) {
    const text = toJson(note, samples);
    await writeFile(join(values.out!, name), text);
    const writers = new Set(samples.map((s) => `${s.source}/${s.writer}`)).size;
    console.log(
      `${name}: ${samples.length} samples, ${writers} writers, ${(text.length / 1024).toFixed(0)} KiB`,
    );
  }
}

await main();
