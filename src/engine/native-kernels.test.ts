import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KERNELS_SHARED_WASM, KERNELS_WASM } from './native/kernels-wasm.js';

const file = (name: string) => readFileSync(new URL(`./native/${name}`, import.meta.url));

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
        'bn_backward',
        'bn_forward',
        'bn_moments',
        'col2im',
        'filter_grad_direct',
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
      new Uint8Array(memory.buffer).fill(0xa5);
      new WebAssembly.Instance(module, { env: { memory } });
      expect(new Uint8Array(memory.buffer).every((b) => b === 0xa5)).toBe(true);
    },
  );
});
