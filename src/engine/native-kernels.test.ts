import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KERNELS_SHARED_WASM, KERNELS_WASM } from './native/kernels-wasm.js';

const file = (name: string) => readFileSync(new URL(`./native/${name}`, import.meta.url));

/** A wasm binary's sections (after the 8-byte header; each: id byte, LEB128 size, payload). */
function sections(bytes: Uint8Array): { id: number; payload: Uint8Array }[] {
  const out: { id: number; payload: Uint8Array }[] = [];
  let at = 8;
  while (at < bytes.length) {
    const id = bytes[at++];
    let size = 0;
    for (let shift = 0; ; shift += 7) {
      const b = bytes[at++];
      size |= (b & 0x7f) << shift;
      if (b < 0x80) break;
    }
    out.push({ id, payload: bytes.subarray(at, at + size) });
    at += size;
  }
  return out;
}
const CODE_SECTION = 10;
const DATA_SECTION = 11;

/**
 * Whether the code reads or writes global 0, wasm-ld's __stack_pointer, as `global.get/set` with the
 * 5-byte padded index the linker emits (23|24 80 80 80 80 00). It starts at 1024 with stack-size=0, so
 * a C function with a stack frame would write into the host's low memory.
 */
function usesStackPointer(code: Uint8Array): boolean {
  for (let i = 0; i + 5 < code.length; i++)
    if ((code[i] === 0x23 || code[i] === 0x24) && code[i + 1] === 0x80 && code[i + 2] === 0x80)
      if (code[i + 3] === 0x80 && code[i + 4] === 0x80 && code[i + 5] === 0x00) return true;
  return false;
}

describe('native training kernels', () => {
  it('embeds exactly the committed modules (rebuild with src/engine/native/build.sh)', () => {
    expect(Buffer.from(KERNELS_WASM, 'base64').equals(file('kernels.wasm'))).toBe(true);
    expect(Buffer.from(KERNELS_SHARED_WASM, 'base64').equals(file('kernels-shared.wasm'))).toBe(true);
  });

  it.each([
    ['kernels.wasm', false],
    ['kernels-shared.wasm', true],
  ])(
    '%s imports only a memory (shared: %s), exports the helpers, and writes no static data',
    (name, shared) => {
      const module = new WebAssembly.Module(file(name));
      expect(WebAssembly.Module.imports(module)).toEqual([{ module: 'env', name: 'memory', kind: 'memory' }]);
      expect(
        WebAssembly.Module.exports(module)
          .map((e) => e.name)
          .sort(),
      ).toEqual([
        'bias_act',
        'bn_backward',
        'bn_forward',
        'bn_moments',
        'col2im',
        'filter_grad_direct',
        'im2col',
        'max_pool_grad',
        'sum_rows',
        'swap_outer',
        'transpose_strided',
      ]);
      // Instantiating on a memory full of a pattern must leave the pattern intact: no data segment lands
      // on the host's heap.
      const memory = new WebAssembly.Memory(
        shared ? { initial: 4, maximum: 65536, shared: true } : { initial: 4 },
      );
      // No C stack and no data segments: nothing of the host's memory is touched but the buffers passed.
      const parts = sections(file(name));
      expect(parts.map((p) => p.id)).not.toContain(DATA_SECTION);
      const code = parts.find((p) => p.id === CODE_SECTION);
      expect(code && usesStackPointer(code.payload)).toBe(false);
      new Uint8Array(memory.buffer).fill(0xa5);
      new WebAssembly.Instance(module, { env: { memory } });
      expect(new Uint8Array(memory.buffer).every((b) => b === 0xa5)).toBe(true);
    },
  );
});
