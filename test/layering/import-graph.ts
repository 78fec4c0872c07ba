// The import graph of src/ and the layering rule it must follow (CONTRIBUTING.md, "Layers").
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

/**
 * Folders of src/ from the top down (cli: the commands; api: hwr as a library, for notebooks). A
 * file may import from its own folder, from a folder on a lower line, and from a sibling on the same
 * line, as long as the folders form no circle. Files directly in src/ (version.ts) sit with util at
 * the bottom.
 */
export const LAYERS: readonly (readonly string[])[] = [
  ['cli', 'api'],
  ['serve'],
  ['retrain'],
  ['train', 'eval'],
  ['data', 'store'],
  ['web'],
  ['preprocess', 'engine', 'model', 'schema'],
  ['util', '.'],
];

export interface ImportEdge {
  /** Importing file, relative to the scanned root with forward slashes, e.g. "data/datasets.ts". */
  readonly from: string;
  /** Imported file, same form. */
  readonly to: string;
}

function toPosix(path: string): string {
  return path.split(sep).join('/');
}

/** The .ts files under `dir` that ship: tests and declaration files left out. */
export function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(path));
    // Tests may reach up to build their fixtures (a store test saving a model with serve/testing);
    // the rule is about the code that ships.
    else if (/\.ts$/.test(e.name) && !/\.(test|d)\.ts$/.test(e.name)) out.push(path);
  }
  return out;
}

/**
 * Every relative import of every non-test .ts file under `root`: static, type-only, re-exports and
 * dynamic import() alike (ts.preProcessFile reads them all without type-checking).
 */
export function importGraph(root: string): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const file of sourceFiles(root)) {
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    for (const ref of info.importedFiles) {
      if (!ref.fileName.startsWith('.')) continue;
      const target = resolve(dirname(file), ref.fileName.replace(/\.js$/, '.ts'));
      edges.push({ from: toPosix(relative(root, file)), to: toPosix(relative(root, target)) });
    }
  }
  return edges;
}

function folderOf(file: string): string {
  const i = file.indexOf('/');
  return i < 0 ? '.' : file.slice(0, i);
}

function rankOf(folder: string): number | undefined {
  const i = LAYERS.findIndex((line) => line.includes(folder));
  return i < 0 ? undefined : i;
}

/** Strongly connected components with more than one node (Tarjan), i.e. the circles of a graph. */
export function circles(edges: readonly { from: string; to: string }[]): string[][] {
  const next = new Map<string, string[]>();
  for (const { from, to } of edges) {
    if (from === to) continue;
    next.set(from, [...(next.get(from) ?? []), to]);
    if (!next.has(to)) next.set(to, []);
  }
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v)!) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const v of next.keys()) if (!index.has(v)) visit(v);
  return found;
}

/**
 * What breaks the rule, one line each: imports into a higher layer, folders missing from LAYERS,
 * circles between folders, and circles between files (type-only imports included).
 */
export function layeringProblems(edges: readonly ImportEdge[]): string[] {
  const problems: string[] = [];
  const folderEdges: { from: string; to: string }[] = [];
  for (const edge of edges) {
    const [from, to] = [folderOf(edge.from), folderOf(edge.to)];
    for (const folder of [from, to]) {
      if (rankOf(folder) === undefined) problems.push(`folder ${folder}/ has no layer in LAYERS`);
    }
    if (from === to) continue;
    folderEdges.push({ from, to });
    const [rf, rt] = [rankOf(from), rankOf(to)];
    if (rf !== undefined && rt !== undefined && rt < rf) {
      problems.push(`upward import: ${edge.from} -> ${edge.to} (${from}/ sits below ${to}/)`);
    }
  }
  for (const c of circles(folderEdges)) problems.push(`folders import each other: ${c.join(' <-> ')}`);
  for (const c of circles(edges)) problems.push(`files import each other: ${c.join(' <-> ')}`);
  return [...new Set(problems)];
}
