import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBlas } from './blas.js';
import { FILTER_DIRECT_MAX_PATCH, patchChunk, registerWasmTrainingKernels, useBlas } from './wasm-kernels.js';

/** Deterministic uniform(-1, 1) values (mulberry32), so a failure reproduces. */
function randoms(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let a = seed >>> 0;
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

interface Input {
  readonly shape: number[];
  readonly values: Float32Array;
}
const input = (shape: number[], seed: number): Input => ({
  shape,
  values: randoms(
    shape.reduce((p, d) => p * d, 1),
    seed,
  ),
});

/** Runs one kernel on the given backend with the same data, returning shape and values. */
async function runOn(
  backend: string,
  kernel: string,
  inputs: Record<string, Input>,
  attrs: tf.NamedAttrMap,
): Promise<{ shape: number[]; values: Float32Array }> {
  await tf.setBackend(backend);
  const tensors: tf.NamedTensorMap = {};
  for (const [name, { shape, values }] of Object.entries(inputs)) tensors[name] = tf.tensor(values, shape);
  const before = tf.memory().numTensors;
  const out = tf.engine().runKernel(kernel, tensors, attrs) as tf.Tensor;
  const values = (await out.data()) as Float32Array;
  const shape = out.shape;
  out.dispose();
  for (const t of Object.values(tensors)) t.dispose();
  expect(tf.memory().numTensors).toBe(before - Object.keys(tensors).length);
  return { shape, values };
}

async function expectSameAsCpu(kernel: string, inputs: Record<string, Input>, attrs: tf.NamedAttrMap) {
  const want = await runOn('cpu', kernel, inputs, attrs);
  const got = await runOn('wasm', kernel, inputs, attrs);
  expect(got.shape).toEqual(want.shape);
  let scale = 1;
  for (const v of want.values) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < want.values.length; i++)
    worst = Math.max(worst, Math.abs(got.values[i] - want.values[i]));
  expect(worst).toBeLessThan(1e-5 * scale * 10);
}

// The GEMM kernels are checked twice: on XNNPACK, and on OpenBLAS when the addon and library load
// (.ci/run makes sure they do; elsewhere a missing one skips those cases, with the reason printed).
const blasResult = loadBlas(1);
if (!blasResult.blas) console.warn(`wasm-kernels.test: OpenBLAS cases skipped: ${blasResult.reason}`);
const GEMMS = [
  { gemm: 'XNNPACK', blas: undefined },
  { gemm: 'OpenBLAS', blas: blasResult.blas },
] as const;

beforeAll(async () => {
  registerWasmTrainingKernels();
  expect(await tf.setBackend('wasm')).toBe(true);
});

// [batch, height, width, inChannels, kernelH, kernelW, outChannels, stride, pad]
type ConvCase = [number, number, number, number, number, number, number, number, 'same' | 'valid'];
const CONV_CASES: ConvCase[] = [
  [2, 28, 28, 1, 5, 5, 6, 1, 'valid'],
  [3, 12, 12, 7, 5, 5, 9, 1, 'valid'],
  [1, 9, 7, 3, 3, 3, 4, 1, 'same'],
  [2, 8, 8, 4, 3, 3, 5, 1, 'same'],
  [2, 11, 10, 3, 4, 2, 2, 1, 'same'],
  [1, 10, 9, 2, 3, 3, 3, 2, 'same'],
  [2, 11, 11, 3, 3, 3, 4, 2, 'valid'],
  [1, 13, 12, 2, 5, 3, 3, 3, 'same'],
  // Patches (kh·kw·Cin) over FILTER_DIRECT_MAX_PATCH take the filter gradient's other formulation.
  [2, 9, 9, 16, 3, 3, 5, 1, 'same'],
  [1, 10, 11, 16, 3, 3, 4, 2, 'valid'],
  [2, 9, 8, 12, 4, 3, 3, 2, 'same'],
  [5, 7, 6, 17, 3, 3, 4, 1, 'same'],
  // Many channels at batch 1.
  [1, 12, 12, 32, 5, 5, 24, 1, 'valid'],
];

describe.each(GEMMS)('GEMM kernels on wasm with $gemm', ({ gemm, blas }) => {
  beforeAll(() => useBlas(blas));
  afterAll(() => useBlas(undefined));
  const run = gemm === 'XNNPACK' || blas ? describe : describe.skip;
  run('kernels', () => {
    describe('Conv2DBackpropFilter', () => {
      it('covers both formulations', () => {
        const patches = CONV_CASES.map(([, , , c, kh, kw]) => kh * kw * c);
        expect(patches.some((p) => p <= FILTER_DIRECT_MAX_PATCH)).toBe(true);
        expect(patches.filter((p) => p > FILTER_DIRECT_MAX_PATCH).length).toBeGreaterThanOrEqual(4);
      });
      it.each(CONV_CASES)(
        'x [%i,%i,%i,%i] k %ix%i out %i stride %i %s',
        async (n, h, w, c, kh, kw, o, s, pad) => {
          const info = tf.backend_util.computeConv2DInfo([n, h, w, c], [kh, kw, c, o], s, 1, pad);
          await expectSameAsCpu(
            tf.Conv2DBackpropFilter,
            { x: input([n, h, w, c], 1), dy: input(info.outShape, 2) },
            { strides: [s, s], pad, dataFormat: 'NHWC', filterShape: [kh, kw, c, o] },
          );
        },
      );
    });

    describe('Conv2DBackpropInput', () => {
      it.each(CONV_CASES)(
        'x [%i,%i,%i,%i] k %ix%i out %i stride %i %s',
        async (n, h, w, c, kh, kw, o, s, pad) => {
          const info = tf.backend_util.computeConv2DInfo([n, h, w, c], [kh, kw, c, o], s, 1, pad);
          await expectSameAsCpu(
            tf.Conv2DBackpropInput,
            { dy: input(info.outShape, 3), filter: input([kh, kw, c, o], 4) },
            { strides: [s, s], pad, dataFormat: 'NHWC', inputShape: [n, h, w, c] },
          );
        },
      );
    });

    describe('BatchMatMul', () => {
      // [aShape (before transpose flags), bShape, transposeA, transposeB]
      const cases: [number[], number[], boolean, boolean][] = [
        [[1, 7, 5], [1, 5, 3], false, false],
        [[1, 5, 7], [1, 5, 3], true, false],
        [[1, 7, 5], [1, 3, 5], false, true],
        [[1, 5, 7], [1, 3, 5], true, true],
        [[3, 4, 6], [3, 4, 2], true, false],
        [[2, 1, 9], [2, 5, 9], false, true],
        [[1, 128, 33], [1, 128, 10], true, false],
        [[3, 4, 6], [1, 6, 2], false, false],
        [[1, 4, 6], [3, 2, 6], false, true],
      ];
      it.each(cases)('a %j b %j transposeA %s transposeB %s', async (a, b, transposeA, transposeB) => {
        await expectSameAsCpu(tf.BatchMatMul, { a: input(a, 5), b: input(b, 6) }, { transposeA, transposeB });
      });
    });

    describe('Conv2D', () => {
      it.each(CONV_CASES)(
        'x [%i,%i,%i,%i] k %ix%i out %i stride %i %s',
        async (n, h, w, c, kh, kw, o, s, pad) => {
          await expectSameAsCpu(
            tf.Conv2D,
            { x: input([n, h, w, c], 7), filter: input([kh, kw, c, o], 8) },
            { strides: [s, s], pad, dataFormat: 'NHWC', dilations: [1, 1] },
          );
        },
      );
      it('runs a 1x1 convolution on the input itself, and a dilated one', async () => {
        const x = input([2, 5, 6, 7], 9);
        await expectSameAsCpu(
          tf.Conv2D,
          { x, filter: input([1, 1, 7, 3], 10) },
          { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [1, 1] },
        );
        await expectSameAsCpu(
          tf.Conv2D,
          { x, filter: input([3, 3, 7, 3], 11) },
          { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', dilations: [2, 2] },
        );
      });
    });

    describe('FusedConv2D', () => {
      it.each(['linear', 'relu', 'elu'])('bias + %s', async (activation) => {
        const [n, h, w, c, k, o] = [2, 9, 8, 5, 3, 6];
        await expectSameAsCpu(
          tf.FusedConv2D,
          { x: input([n, h, w, c], 12), filter: input([k, k, c, o], 13), bias: input([o], 14) },
          {
            strides: [1, 1],
            pad: 'same',
            dataFormat: 'NHWC',
            dilations: [1, 1],
            activation,
            leakyreluAlpha: 0.2,
          },
        );
      });
      it('without a bias', async () => {
        await expectSameAsCpu(
          tf.FusedConv2D,
          { x: input([1, 7, 7, 3], 15), filter: input([3, 3, 3, 4], 16) },
          { strides: [2, 2], pad: 'valid', dataFormat: 'NHWC', dilations: [1, 1], activation: 'relu' },
        );
      });
    });

    describe('_FusedMatMul', () => {
      const cases: [number[], number[], boolean, boolean, string][] = [
        [[1, 7, 5], [1, 5, 3], false, false, 'relu'],
        [[1, 5, 7], [1, 3, 5], true, true, 'linear'],
        [[3, 4, 6], [1, 6, 2], false, false, 'relu'],
        [[1, 128, 1600], [1, 1600, 50], false, false, 'sigmoid'],
      ];
      it.each(cases)(
        'a %j b %j transposeA %s transposeB %s %s',
        async (a, b, transposeA, transposeB, activation) => {
          const n = b[transposeB ? 1 : 2];
          await expectSameAsCpu(
            tf._FusedMatMul,
            { a: input(a, 17), b: input(b, 18), bias: input([n], 19) },
            { transposeA, transposeB, activation },
          );
        },
      );
    });
  });
});

describe('convolutions on OpenBLAS, a few images of patches at a time', () => {
  const run = blasResult.blas ? describe : describe.skip;
  run('chunks', () => {
    const saved = patchChunk.bytes;
    beforeAll(() => {
      useBlas(blasResult.blas);
      // 3 images' patches of the case below per chunk: chunks of 3, 3 and 1 over a batch of 7.
      patchChunk.bytes = 3 * 6 * 6 * (3 * 3 * 4) * 4;
    });
    afterAll(() => {
      patchChunk.bytes = saved;
      useBlas(undefined);
    });
    const [n, h, w, c, k, o] = [7, 8, 8, 4, 3, 5];
    const info = tf.backend_util.computeConv2DInfo([n, h, w, c], [k, k, c, o], 1, 1, 'valid');
    const attrs = { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [1, 1] };
    it('Conv2D', async () => {
      await expectSameAsCpu(
        tf.Conv2D,
        { x: input([n, h, w, c], 20), filter: input([k, k, c, o], 21) },
        attrs,
      );
    });
    it('Conv2DBackpropFilter (the chunks accumulate)', async () => {
      await expectSameAsCpu(
        tf.Conv2DBackpropFilter,
        { x: input([n, h, w, c], 22), dy: input(info.outShape, 23) },
        { ...attrs, filterShape: [k, k, c, o] },
      );
    });
    it('Conv2DBackpropInput', async () => {
      await expectSameAsCpu(
        tf.Conv2DBackpropInput,
        { dy: input(info.outShape, 24), filter: input([k, k, c, o], 25) },
        { ...attrs, inputShape: [n, h, w, c] },
      );
    });
  });
});

describe('MaxPoolGrad on wasm', () => {
  // [batch, height, width, channels, pool, stride, pad]
  const cases: [number, number, number, number, number, number, 'same' | 'valid'][] = [
    [2, 24, 24, 5, 2, 2, 'valid'],
    [1, 9, 7, 3, 2, 2, 'valid'],
    [1, 9, 7, 3, 2, 2, 'same'],
    [2, 7, 7, 4, 3, 1, 'same'],
    [3, 8, 6, 2, 3, 2, 'valid'],
  ];
  it.each(cases)('x [%i,%i,%i,%i] pool %i stride %i %s', async (n, h, w, c, f, s, pad) => {
    await expectMaxPoolGradSameAsCpu(n, h, w, c, f, s, pad, input([n, h, w, c], 7));
  });
  it('gives a tied window gradient to its first maximum, as ReLU outputs (many zeros) make common', async () => {
    const x = input([2, 8, 8, 9], 10);
    x.values.forEach((v, i) => {
      x.values[i] = Math.max(0, Math.round(v));
    });
    await expectMaxPoolGradSameAsCpu(2, 8, 8, 9, 2, 2, 'valid', x);
    await expectMaxPoolGradSameAsCpu(2, 8, 8, 9, 3, 1, 'same', x);
  });
  async function expectMaxPoolGradSameAsCpu(
    n: number,
    h: number,
    w: number,
    c: number,
    f: number,
    s: number,
    pad: 'same' | 'valid',
    x: Input,
  ) {
    const info = tf.backend_util.computePool2DInfo([n, h, w, c], f, s, 1, pad);
    // The forward output is an input of MaxPoolGrad; compute it once on cpu for both backends.
    await tf.setBackend('cpu');
    const y = tf.maxPool(tf.tensor4d(x.values, x.shape as [number, number, number, number]), f, s, pad);
    const output = { shape: y.shape as number[], values: y.dataSync() as Float32Array };
    y.dispose();
    await expectSameAsCpu(
      tf.MaxPoolGrad,
      { dy: input(info.outShape, 8), input: x, output },
      { filterSize: [f, f], strides: [s, s], pad },
    );
  }
});

describe('Sum on wasm', () => {
  // [shape, axis, keepDims]: leading-axes reductions take the fast path, the others the stock kernel.
  const cases: [number[], number[], boolean][] = [
    [[4, 6, 5, 7], [0, 1, 2], false],
    [[3, 5, 5, 9], [0, 1, 2], true],
    [[1, 1, 1, 3], [0, 1, 2], false],
    [[64, 33], [0], false],
    [[2, 3, 4], [0, 1], false],
    [[2, 3, 4], [1, 0], true],
    [[5, 3, 4], [0], false],
    [[2, 3, 4], [1, 2], false],
    [[2, 3, 4], [0, 2], false],
    [[2, 3, 4], [0, 1, 2], false],
    [[7], [0], false],
    [[0, 3], [0], false],
  ];
  it.each(cases)('x %j axis %j keepDims %s', async (shape, axis, keepDims) => {
    await expectSameAsCpu(tf.Sum, { x: input(shape, 9) }, { axis, keepDims });
  });
});

describe('Mean on wasm', () => {
  // BatchNorm's moments take the leading-axes path; the other reductions the stock kernel.
  const cases: [number[], number[], boolean][] = [
    [[4, 6, 5, 7], [0, 1, 2], false],
    [[3, 5, 5, 9], [0, 1, 2], true],
    [[64, 33], [0], false],
    [[2, 3, 4], [1, 2], false],
    [[2, 3, 4], [0, 2], true],
    [[0, 3], [0], false],
  ];
  it.each(cases)('x %j axis %j keepDims %s', async (shape, axis, keepDims) => {
    await expectSameAsCpu(tf.Mean, { x: input(shape, 11) }, { axis, keepDims });
  });
});

describe('Tile on wasm', () => {
  // [x shape, reps]; the first is BatchNorm's gradient: a channel vector tiled over [N, H, W].
  const cases: [string, string][] = [
    ['1,1,1,5', '3,4,2,1'],
    ['2,3', '3,2'],
    ['2,1,3', '1,4,1'],
    ['4', '5'],
    ['3,2,2', '1,1,1'],
    ['2,3,1,2', '2,1,3,2'],
    ['1,2', '0,3'],
  ];
  const dims = (s: string): number[] => s.split(',').map(Number);
  it.each(cases)('x [%s] reps [%s]', async (shape, reps) => {
    await expectSameAsCpu(tf.Tile, { x: input(dims(shape), 12) }, { reps: dims(reps) });
  });
  it('tiles int32 and bool tensors exactly', async () => {
    for (const dtype of ['int32', 'bool'] as const) {
      const results: number[][] = [];
      for (const backend of ['cpu', 'wasm']) {
        await tf.setBackend(backend);
        const x = tf.tensor([1, 0, 3, 0, 0, 6], [2, 1, 3], dtype);
        const y = tf.tile(x, [2, 3, 1]);
        results.push(Array.from(await y.data()));
        tf.dispose([x, y]);
      }
      expect(results[1]).toEqual(results[0]);
      expect(results[1].length).toBe(36);
    }
  });
});

describe('Identity and same-dtype Cast on wasm', () => {
  it('share the buffer: the copy outlives its source, and the memory goes when both are disposed', async () => {
    await tf.setBackend('wasm');
    const bytesBefore = tf.memory().numBytes;
    const x = tf.tensor(randoms(1000, 13), [10, 100]);
    const want = Array.from(await x.data());
    const copies = [
      tf.clone(x),
      tf.cast(x, 'float32'),
      tf.engine().runKernel(tf.Identity, { x }) as tf.Tensor,
    ];
    x.dispose();
    for (const c of copies) expect(Array.from(await c.data())).toEqual(want);
    // A new tensor must not reuse the shared buffer while a copy still holds it.
    const other = tf.fill([10, 100], 7);
    expect(Array.from(await copies[0].data())).toEqual(want);
    tf.dispose([...copies, other]);
    expect(tf.memory().numBytes).toBe(bytesBefore);
  });
  it('casts to another dtype through the stock kernel', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor([1.7, -2.2, 0], [3]);
    const y = tf.cast(x, 'int32');
    expect(y.dtype).toBe('int32');
    expect(Array.from(await y.data())).toEqual([1, -2, 0]);
    tf.dispose([x, y]);
  });
});
