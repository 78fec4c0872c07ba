import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { lengthProblems, longFunctions, longFunctionsIn, MAX_FUNCTION_LINES } from './function-length.js';

const SRC = fileURLToPath(new URL('../../src', import.meta.url));
/** The folders the rule holds for (CONTRIBUTING.md, "Conventions"). */
const CHECKED = ['cli', 'serve', 'retrain', 'train'];

/** A function of `n` lines in all: its first line, n - 2 statements, its closing brace. */
function fn(head: string, n: number): string {
  return `${head} {\n${'  x++;\n'.repeat(n - 2)}}\n`;
}

describe('function length', () => {
  it(`no function in src/${CHECKED.join(', src/')} is over ${MAX_FUNCTION_LINES} lines without a reason`, () => {
    const found = longFunctions(SRC, CHECKED);
    expect(lengthProblems(found)).toEqual([]);
    // The scan sees the real code: lowering the bar finds functions (their names and lengths).
    const over40 = longFunctions(SRC, CHECKED, 40);
    expect(over40.length).toBeGreaterThan(3);
    expect(over40.every((f) => f.lines > 40 && f.name.length > 0 && f.file.endsWith('.ts'))).toBe(true);
  });

  it('fails on a long function, a long method and a long callback; passes at the limit', () => {
    const source = [
      'let x = 0;',
      fn('export function atLimit()', MAX_FUNCTION_LINES),
      fn('export function tooLong()', MAX_FUNCTION_LINES + 1),
      `class A {\n${fn('  method()', 70)}}`,
      `program.action(${fn('async () =>', 65).trimEnd()});`,
      `export const arrow = ${fn('() =>', 62)}`,
    ].join('\n');
    const found = longFunctionsIn('serve/app.ts', source);
    expect(found.map((f) => [f.name, f.lines])).toEqual([
      ['tooLong', 61],
      ['method', 70],
      ['action() callback', 65],
      ['arrow', 62],
    ]);
    expect(lengthProblems(found)).toEqual([
      'serve/app.ts:63 tooLong has 61 lines (over 60, no "Long:" reason above it)',
      'serve/app.ts:126 method has 70 lines (over 60, no "Long:" reason above it)',
      'serve/app.ts:197 action() callback has 65 lines (over 60, no "Long:" reason above it)',
      'serve/app.ts:262 arrow has 62 lines (over 60, no "Long:" reason above it)',
    ]);
  });

  it('passes a long function whose comment right above gives a reason after "Long:"', () => {
    const source = [
      '/**',
      ' * Decodes one instruction.',
      ' * Long: one switch over the opcodes reads as the table it is; split, it hides the table.',
      ' */',
      fn('export function decode(op: number)', 80),
      '// Long: the states of one parser in order.',
      fn('export const parse = (s: string) =>', 70),
      'class B {',
      '  // Long:',
      fn('  noReason()', 70),
      '}',
      '// Long: a reason on a comment that is not right above does not count.',
      'const y = 1;',
      fn('function farBelow()', 70),
    ].join('\n');
    const found = longFunctionsIn('train/x.ts', source);
    expect(found.map((f) => [f.name, f.reason])).toEqual([
      ['decode', 'one switch over the opcodes reads as the table it is; split, it hides the table.'],
      ['parse', 'the states of one parser in order.'],
      ['noReason', undefined],
      ['farBelow', undefined],
    ]);
    expect(lengthProblems(found).map((p) => p.split(' ')[1])).toEqual(['noReason', 'farBelow']);
  });
});
