import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { importGraph, layeringProblems } from './import-graph.js';

const SRC = fileURLToPath(new URL('../../src', import.meta.url));

let tmp: string | undefined;
afterEach(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  tmp = undefined;
});

/** A scratch src/ tree: path -> content. */
function tree(files: Record<string, string>): string {
  tmp = mkdtempSync(join(tmpdir(), 'hwr-layering-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(tmp, path)), { recursive: true });
    writeFileSync(join(tmp, path), text);
  }
  return tmp;
}

describe('layering of src/', () => {
  it('src/ has no upward import, no unknown folder and no circle', () => {
    const edges = importGraph(SRC);
    // The scan sees the real graph: serve builds on model, cli on serve.
    expect(edges).toContainEqual({ from: 'serve/predictor.ts', to: 'model/fused.ts' });
    expect(edges.length).toBeGreaterThan(200);
    expect(layeringProblems(edges)).toEqual([]);
  });

  it('reports an import from a lower folder into a higher one, type-only or dynamic alike', () => {
    const root = tree({
      'serve/app.ts': "import { load } from '../data/datasets.js';\nexport const app = load;\n",
      'data/datasets.ts': "import type { App } from '../serve/app.js';\nexport const load = 1;\n",
      'model/io.ts': "export const io = () => import('../train/trainer.js');\n",
      'train/trainer.ts': 'export const t = 1;\n',
    });
    expect(layeringProblems(importGraph(root))).toEqual([
      'upward import: data/datasets.ts -> serve/app.ts (data/ sits below serve/)',
      'upward import: model/io.ts -> train/trainer.ts (model/ sits below train/)',
      'folders import each other: data <-> serve',
      'files import each other: data/datasets.ts <-> serve/app.ts',
    ]);
  });

  it('reports circles inside one folder and between siblings of one layer, and unknown folders', () => {
    const root = tree({
      'data/a.ts': "export { b } from './b.js';\n",
      'data/b.ts':
        "import type { A } from './a.js';\nimport { s } from '../store/s.js';\nexport const b = s;\n",
      'store/s.ts': "import { b } from '../data/b.js';\nexport const s = b;\n",
      'plugins/p.ts': "import { s } from '../store/s.js';\nexport const p = s;\n",
      'util/ok.ts': 'export const ok = 1;\n',
      'util/ok.test.ts': "import { p } from '../plugins/p.js';\n",
    });
    expect(layeringProblems(importGraph(root)).sort()).toEqual(
      [
        'folder plugins/ has no layer in LAYERS',
        'folders import each other: data <-> store',
        'files import each other: data/a.ts <-> data/b.ts <-> store/s.ts',
      ].sort(),
    );
  });
});
