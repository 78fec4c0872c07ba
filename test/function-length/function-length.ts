// The function-length rule (CONTRIBUTING.md, "Conventions"): no function in the checked folders over
// MAX_FUNCTION_LINES lines unless the comment right above it says why, with the marker "Long:".
import { readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import ts from 'typescript';
import { sourceFiles } from '../layering/import-graph.js';

/** Longer than this, a function is split into named steps or carries a reason. */
export const MAX_FUNCTION_LINES = 60;

/** The marker of a reason, in a line or block comment right above the function: `Long: <why>`. */
const REASON = /\bLong:\s*\S/;

export interface LongFunction {
  /** File relative to the scanned root, forward slashes. */
  readonly file: string;
  /** The function's name, or what holds it (`x.action callback`, `anonymous`). */
  readonly name: string;
  /** 1-based line of its first token. */
  readonly line: number;
  /** Lines from its first token to its last, both included. */
  readonly lines: number;
  /** The text after "Long:" when the comment above gives one. */
  readonly reason?: string;
}

function nameOf(node: ts.FunctionLikeDeclaration, sf: ts.SourceFile): string {
  if (node.name) return node.name.getText(sf);
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent))
    return parent.name.getText(sf);
  if (ts.isCallExpression(parent)) {
    const callee = parent.expression;
    const name = ts.isPropertyAccessExpression(callee) ? callee.name.text : callee.getText(sf);
    return `${name}() callback`;
  }
  return 'anonymous';
}

/**
 * The comments that sit right above a function: its own leading comments and those of the enclosing
 * nodes that start on the same line (`export const f = () => {`, `.action(async () => {`).
 */
function commentsAbove(node: ts.Node, sf: ts.SourceFile): string[] {
  const text = sf.getFullText();
  const line = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
  const out: string[] = [];
  for (let n: ts.Node = node; !ts.isSourceFile(n); n = n.parent) {
    if (sf.getLineAndCharacterOfPosition(n.getStart(sf)).line !== line) break;
    for (const c of ts.getLeadingCommentRanges(text, n.getFullStart()) ?? [])
      out.push(text.slice(c.pos, c.end));
    // JSDoc on a variable statement sits before `export const`, the ancestor of the declaration list.
  }
  return out;
}

function reasonOf(comments: readonly string[]): string | undefined {
  for (const c of comments) {
    const m = REASON.exec(c);
    if (m)
      return c
        .slice(m.index + 'Long:'.length)
        .replace(/\*\/\s*$/, '')
        .replace(/\s*\n\s*(\*|\/\/)\s?/g, ' ')
        .trim();
  }
  return undefined;
}

/** Every function of one source text longer than `max` lines, with its reason if it gives one. */
export function longFunctionsIn(file: string, source: string, max = MAX_FUNCTION_LINES): LongFunction[] {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: LongFunction[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const fn = node as ts.FunctionLikeDeclaration;
      const first = sf.getLineAndCharacterOfPosition(fn.getStart(sf)).line;
      const last = sf.getLineAndCharacterOfPosition(fn.getEnd()).line;
      const lines = last - first + 1;
      if (lines > max) {
        const reason = reasonOf(commentsAbove(fn, sf));
        found.push({ file, name: nameOf(fn, sf), line: first + 1, lines, ...(reason && { reason }) });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

/** Every long function in the .ts files (tests left out) under `root`'s given folders. */
export function longFunctions(
  root: string,
  folders: readonly string[],
  max = MAX_FUNCTION_LINES,
): LongFunction[] {
  return folders.flatMap((folder) =>
    sourceFiles(join(root, folder)).flatMap((path) =>
      longFunctionsIn(relative(root, path).split(sep).join('/'), readFileSync(path, 'utf8'), max),
    ),
  );
}

/** The long functions that give no reason, as messages naming file, line, function and length. */
export function lengthProblems(found: readonly LongFunction[], max = MAX_FUNCTION_LINES): string[] {
  return found
    .filter((f) => f.reason === undefined)
    .map(
      (f) => `${f.file}:${f.line} ${f.name} has ${f.lines} lines (over ${max}, no "Long:" reason above it)`,
    );
}
