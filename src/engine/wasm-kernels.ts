/**
 * Training kernels for the wasm backend.
 *
 * tfjs-backend-wasm 4.22 ships no `Conv2DBackpropFilter` (so it cannot train a CNN at all), and its
 * `Conv2DBackpropInput`, transposed `BatchMatMul` and `MaxPoolGrad` are naive loops. Here they are
 * rebuilt from wasm's own XNNPACK kernels (Conv2D as a multi-threaded GEMM, BatchMatMul, Transpose)
 * plus small SIMD helpers of ours for the data movement around them (im2col, col2im, transposes,
 * reductions: ./native/kernels.c). Shapes the fast paths do not cover go to the stock wasm kernel or,
 * where wasm has none, to the cpu backend's kernel.
 *
 * With the system's OpenBLAS loaded (./blas.ts, `useBlas`), the convolutions and matmuls run as im2col
 * + OpenBLAS sgemm on the same heap instead of XNNPACK: 3-4x the GEMM speed on this CPU's FMA units.
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import type { Blas } from './blas.js';
import { cpuFallback } from './cpu-fallback.js';
import { type ConvGeometry, heapFloat32, heapOffset, nativeKernels } from './native-kernels.js';

type Info = tf.TensorInfo;
type Attrs = tf.NamedAttrMap;
type KernelArgs = Parameters<tf.KernelFunc>[0];

/** Kernels a training step needs that wasm does not register; run on the cpu backend. */
const CPU_FALLBACK_KERNELS: readonly string[] = [];

let registered = false;
/** OpenBLAS, when loaded: the GEMMs below run on it instead of XNNPACK. */
let blas: Blas | undefined;

/** Routes the GEMMs of these kernels to `b` (undefined: back to XNNPACK). */
export function useBlas(b: Blas | undefined): void {
  blas = b;
}
/** The stock wasm kernels we wrap, captured before they are replaced. */
const stock = new Map<string, tf.KernelFunc>();

function call(name: string, backend: BackendWasm, inputs: tf.NamedTensorInfoMap, attrs: Attrs): Info {
  const kernel = stock.get(name) ?? tf.getKernel(name, 'wasm')?.kernelFunc;
  if (!kernel) throw new Error(`wasm kernel ${name} is missing`);
  return kernel({ inputs, backend, attrs }) as Info;
}

function transpose(backend: BackendWasm, x: Info, perm: number[]): Info {
  return call(tf.Transpose, backend, { x }, { perm });
}

function free(backend: BackendWasm, ...infos: Info[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

type Pad = tf.backend_util.ExplicitPadding;
type ConvInfo = tf.backend_util.Conv2DInfo;

/** Conv2DBackpropFilter accumulates directly up to this patch size (kh·kw·Cin), else runs as a conv. */
export const FILTER_DIRECT_MAX_PATCH = 128;

/** Byte offset of a tensor's data on the wasm heap, for the native helpers. */
function at(backend: BackendWasm, t: Info): number {
  return heapOffset(backend, t.dataId);
}

/** Conv and pool geometry alike (computePool2DInfo returns a Conv2DInfo too). */
function geometry(info: ConvInfo): ConvGeometry {
  return [
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.outHeight,
    info.outWidth,
    info.filterHeight,
    info.filterWidth,
    info.strideHeight,
    info.strideWidth,
    info.padInfo.top,
    info.padInfo.left,
  ];
}

type Shape4 = [number, number, number, number];

/** Conv geometry of an NHWC conv at dilation 1 (every kernel here; dilated convs go to stock ones). */
function convInfo(
  xShape: number[],
  filterShape: number[],
  { strides, pad, dimRoundingMode }: Pick<tf.Conv2DAttrs, 'strides' | 'pad' | 'dimRoundingMode'>,
): ConvInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape as Shape4,
    filterShape as Shape4,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
}

/** Empty tensors go to the stock kernels: the native helpers assume data on the heap. */
function empty(...infos: Info[]): boolean {
  return infos.some((t) => t.shape.includes(0));
}

/** A view of the same buffer under another shape (no copy, no refcount: only for kernel inputs). */
function view(t: Info, shape: number[]): Info {
  return { dataId: t.dataId, shape, dtype: t.dtype };
}

/**
 * out[M, N] = a[M, K] · b[K, N] as an XNNPACK 1x1 convolution: wasm's BatchMatMul runs XNNPACK's GEMM
 * on one thread, its Conv2D on the thread pool. Each output is summed over K in a fixed order by one
 * thread, so the result does not depend on the thread count or scheduling.
 */
function gemm(backend: BackendWasm, a: Info, b: Info, m: number, k: number, n: number): Info {
  return call(tf.Conv2D, backend, { x: view(a, [1, m, 1, k]), filter: view(b, [1, 1, k, n]) }, {
    strides: [1, 1],
    pad: 'valid',
    dataFormat: 'NHWC',
    dilations: [1, 1],
  } as unknown as Attrs);
}

/** C[M,N] = op(A)·op(B) on the heap, through OpenBLAS; offsets in bytes, leading dims in floats. */
function sgemm(
  wasm: BackendWasm,
  b: Blas,
  [ta, tb]: [boolean, boolean],
  [m, n, k]: [number, number, number],
  a: number,
  bOff: number,
  c: number,
  beta = 0,
): void {
  b.sgemm(heapFloat32(wasm), +ta, +tb, m, n, k, a, ta ? m : k, bOff, tb ? k : n, beta, c, n);
}

/** A 1x1, stride-1, unpadded convolution's patch matrix is its input itself. */
function pointwise(info: ConvInfo): boolean {
  const { filterHeight, filterWidth, strideHeight, strideWidth, padInfo } = info;
  const { top, bottom, left, right } = padInfo;
  return (
    filterHeight === 1 &&
    filterWidth === 1 &&
    strideHeight === 1 &&
    strideWidth === 1 &&
    !(top || bottom || left || right)
  );
}

/** Patch matrices stay under this size: the batch is processed this many bytes of patches at a time. */
export const patchChunk = { bytes: 32 << 20 };

/**
 * Calls `step` for consecutive chunks of the batch: first image n0, n images, their geometry, and the
 * heap offset of a scratch patch matrix [n·Ho·Wo, kh·kw·Cin] (shared by the chunks, freed after). The
 * paper CNN's second layer at batch 500 would need 240 MB of patches at once; chunks of
 * `patchChunk.bytes` keep im2col's memory bounded whatever the batch.
 */
function forPatchChunks(
  wasm: BackendWasm,
  info: ConvInfo,
  step: (n0: number, n: number, g: ConvGeometry, col: number) => void,
): void {
  const K = info.filterHeight * info.filterWidth * info.inChannels;
  const perImage = info.outHeight * info.outWidth * K * 4;
  const per = Math.min(info.batchSize, Math.max(1, Math.floor(patchChunk.bytes / perImage)));
  const col = wasm.makeOutput([per * info.outHeight * info.outWidth, K], 'float32');
  try {
    for (let n0 = 0; n0 < info.batchSize; n0 += per) {
      const n = Math.min(per, info.batchSize - n0);
      const [, ...rest] = geometry(info);
      step(n0, n, [n, ...rest], at(wasm, col));
    }
  } finally {
    free(wasm, col);
  }
}

/** Bytes of one image of x, and of one image of the conv's output (offsets of a chunk's data). */
function imageBytes(info: ConvInfo): { x: number; y: number } {
  return {
    x: info.inHeight * info.inWidth * info.inChannels * 4,
    y: info.outHeight * info.outWidth * info.outChannels * 4,
  };
}

/** y = conv(x, filter) as patches · filter[kh·kw·Cin, Cout], on OpenBLAS. */
function convByBlas(wasm: BackendWasm, b: Blas, x: Info, filter: Info, info: ConvInfo): Info {
  const K = info.filterHeight * info.filterWidth * info.inChannels;
  const O = info.outChannels;
  const rows = info.outHeight * info.outWidth;
  const out = wasm.makeOutput(info.outShape, 'float32');
  if (pointwise(info)) {
    sgemm(
      wasm,
      b,
      [false, false],
      [info.batchSize * rows, O, K],
      at(wasm, x),
      at(wasm, filter),
      at(wasm, out),
    );
    return out;
  }
  const bytes = imageBytes(info);
  forPatchChunks(wasm, info, (n0, n, g, col) => {
    nativeKernels(wasm).im2col(at(wasm, x) + n0 * bytes.x, col, ...g);
    sgemm(wasm, b, [false, false], [n * rows, O, K], col, at(wasm, filter), at(wasm, out) + n0 * bytes.y);
  });
  return out;
}

/** dW[kh·kw·Cin, Cout] = patchesᵀ · dy[N·Ho·Wo, Cout], accumulated over the chunks, on OpenBLAS. */
function filterGradByBlas(
  wasm: BackendWasm,
  b: Blas,
  x: Info,
  dy: Info,
  info: ConvInfo,
  shape: number[],
): Info {
  const K = info.filterHeight * info.filterWidth * info.inChannels;
  const O = info.outChannels;
  const rows = info.outHeight * info.outWidth;
  const out = wasm.makeOutput(shape, 'float32');
  if (pointwise(info)) {
    sgemm(wasm, b, [true, false], [K, O, info.batchSize * rows], at(wasm, x), at(wasm, dy), at(wasm, out));
    return out;
  }
  const bytes = imageBytes(info);
  forPatchChunks(wasm, info, (n0, n, g, col) => {
    nativeKernels(wasm).im2col(at(wasm, x) + n0 * bytes.x, col, ...g);
    sgemm(
      wasm,
      b,
      [true, false],
      [K, O, n * rows],
      col,
      at(wasm, dy) + n0 * bytes.y,
      at(wasm, out),
      n0 ? 1 : 0,
    );
  });
  return out;
}

/** dx = col2im(dy · Wᵀ) chunk by chunk, on OpenBLAS (see conv2DBackpropInput). */
function inputGradByBlas(
  wasm: BackendWasm,
  b: Blas,
  dy: Info,
  filter: Info,
  info: ConvInfo,
  shape: number[],
): Info {
  const K = info.filterHeight * info.filterWidth * info.inChannels;
  const rows = info.outHeight * info.outWidth;
  const out = wasm.makeOutput(shape, 'float32');
  const bytes = imageBytes(info);
  forPatchChunks(wasm, info, (n0, n, g, col) => {
    sgemm(
      wasm,
      b,
      [false, true],
      [n * rows, K, info.outChannels],
      at(wasm, dy) + n0 * bytes.y,
      at(wasm, filter),
      col,
    );
    nativeKernels(wasm).col2im(col, at(wasm, out) + n0 * bytes.x, ...g);
  });
  return out;
}

type ConvAttrs = tf.Conv2DAttrs & { activation?: string; leakyreluAlpha?: number };

/** The conv's geometry when OpenBLAS can run it (float32 NHWC, no dilation), else undefined. */
function blasConvInfo(x: Info, filter: Info, attrs: ConvAttrs): ConvInfo | undefined {
  const { strides, pad, dataFormat, dilations, dimRoundingMode } = attrs;
  const format = tf.backend_util.convertConv2DDataFormat(dataFormat);
  const dilated = (typeof dilations === 'number' ? [dilations] : (dilations ?? [1])).some((d) => d !== 1);
  if (!blas || format !== 'channelsLast' || dilated || x.dtype !== 'float32' || filter.dtype !== 'float32')
    return undefined;
  if (empty(x, filter)) return undefined;
  return convInfo(x.shape, filter.shape, { strides, pad, dimRoundingMode });
}

function conv2D(args: KernelArgs): Info {
  const wasm = args.backend as BackendWasm;
  const { x, filter } = args.inputs as { x: Info; filter: Info };
  const info = blasConvInfo(x, filter, args.attrs as unknown as ConvAttrs);
  if (!info || !blas) return call(tf.Conv2D, wasm, args.inputs, args.attrs ?? {});
  return convByBlas(wasm, blas, x, filter, info);
}

/** The epilogue OpenBLAS paths apply: a [cols] float32 bias, then ReLU or nothing; else undefined. */
function epilogue(
  bias: Info | undefined,
  prelu: Info | undefined,
  activation: string | undefined,
  cols: number,
) {
  if (prelu || !(activation === undefined || activation === 'linear' || activation === 'relu'))
    return undefined;
  if (bias && (bias.dtype !== 'float32' || tf.util.sizeFromShape(bias.shape) !== cols)) return undefined;
  return { bias, relu: activation === 'relu' };
}

/** Applies an `epilogue` in place to out, viewed as rows of `cols`. */
function applyEpilogue(
  wasm: BackendWasm,
  out: Info,
  post: NonNullable<ReturnType<typeof epilogue>>,
  cols: number,
): void {
  const rows = tf.util.sizeFromShape(out.shape) / cols;
  nativeKernels(wasm).bias_act(at(wasm, out), post.bias ? at(wasm, post.bias) : 0, rows, cols, +post.relu);
}

/** FusedConv2D (inference: conv + bias + activation in one kernel), as convByBlas + bias_act. */
function fusedConv2D(args: KernelArgs): Info {
  const wasm = args.backend as BackendWasm;
  const { x, filter, bias, preluActivationWeights } = args.inputs as Record<string, Info | undefined> & {
    x: Info;
    filter: Info;
  };
  const attrs = args.attrs as unknown as ConvAttrs;
  const info = blasConvInfo(x, filter, attrs);
  const post = info && epilogue(bias, preluActivationWeights, attrs.activation, info.outChannels);
  if (!info || !post || !blas) return call(tf.FusedConv2D, wasm, args.inputs, args.attrs ?? {});
  const out = convByBlas(wasm, blas, x, filter, info);
  applyEpilogue(wasm, out, post, info.outChannels);
  return out;
}

/**
 * a[..., M, K] · b[..., K, N] (either transposed) on OpenBLAS, one sgemm per batch matrix; the batch
 * dims must match or one side have a single matrix (what layers' Dense and the gradients produce).
 * Undefined for other shapes.
 */
function matMulByBlas(wasm: BackendWasm, a: Info, b: Info, ta: boolean, tb: boolean): Info | undefined {
  if (!blas || a.dtype !== 'float32' || b.dtype !== 'float32' || empty(a, b)) return undefined;
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (ra < 2 || ra !== rb) return undefined;
  const [a0, a1] = a.shape.slice(-2);
  const [b0, b1] = b.shape.slice(-2);
  const [m, k] = ta ? [a1, a0] : [a0, a1];
  const [k2, n] = tb ? [b1, b0] : [b0, b1];
  if (k !== k2) return undefined;
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const batchA = tf.util.sizeFromShape(outerA);
  const batchB = tf.util.sizeFromShape(outerB);
  const outer = batchA >= batchB ? outerA : outerB;
  if (!(tf.util.arraysEqual(outerA, outerB) || batchA === 1 || batchB === 1)) return undefined;
  const out = wasm.makeOutput([...outer, m, n], 'float32');
  const [pa, pb, pc] = [at(wasm, a), at(wasm, b), at(wasm, out)];
  for (let i = 0; i < Math.max(batchA, batchB); i++)
    sgemm(
      wasm,
      blas,
      [ta, tb],
      [m, n, k],
      pa + (batchA > 1 ? i * m * k * 4 : 0),
      pb + (batchB > 1 ? i * k * n * 4 : 0),
      pc + i * m * n * 4,
    );
  return out;
}

function fusedMatMul(args: KernelArgs): Info {
  const wasm = args.backend as BackendWasm;
  const { a, b, bias, preluActivationWeights } = args.inputs as Record<string, Info | undefined> & {
    a: Info;
    b: Info;
  };
  const { transposeA, transposeB, activation } = args.attrs as unknown as tf._FusedMatMulAttrs;
  const n = b.shape[transposeB ? b.shape.length - 2 : b.shape.length - 1];
  const post = epilogue(bias, preluActivationWeights, activation, n);
  let out = post && matMulByBlas(wasm, a, b, transposeA, transposeB);
  if (!out) {
    // The stock kernel (4.22.0) adds a bias wrongly when both operands are transposed or one batch
    // is broadcast (errors of 0.4-1.4 on 5x7 operands; correct without a bias): those go elsewhere.
    const stockOk =
      !(transposeA && transposeB) && tf.util.arraysEqual(a.shape.slice(0, -2), b.shape.slice(0, -2));
    if (stockOk) return call(tf._FusedMatMul, wasm, args.inputs, args.attrs ?? {});
    if (!post) return cpuFallback(tf._FusedMatMul)(args) as Info;
    out = batchMatMul({ ...args, inputs: { a, b }, attrs: { transposeA, transposeB } });
  }
  applyEpilogue(wasm, out, post as NonNullable<typeof post>, n);
  return out;
}

/**
 * dW[i,j,c,o] = Σ_{n,y,x} xpad[n, y·s+i, x·s+j, c] · dy[n,y,x,o] is itself a convolution: the input
 * channels play the batch, the batch plays the channels, dy is the filter (dilated by the stride).
 * One XNNPACK conv2d of transposed x with transposed dy, then one transpose back (transposes: ours).
 */
function filterGradByConv(wasm: BackendWasm, x: Info, dy: Info, info: ConvInfo): Info {
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: C, outHeight: Ho, outWidth: Wo } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, outChannels: O } = info;
  const { top, bottom, left, right } = info.padInfo;
  // With stride s the conv output has (Hpad - (Ho-1)·s) rows; rows past kh are never used.
  const rows = H + top + bottom - (Ho - 1) * sh;
  const cols = W + left + right - (Wo - 1) * sw;
  const native = nativeKernels(wasm);
  // x [N, H·W, Cin] -> [Cin, H·W, N] (one N x Cin transpose per pixel); dy -> [Ho·Wo, N, Cout].
  const xt = wasm.makeOutput([C, H, W, N], 'float32');
  native.transpose_strided(at(wasm, x), at(wasm, xt), H * W, N, C, C, H * W * C, N, H * W * N);
  const dyt = wasm.makeOutput([Ho, Wo, N, O], 'float32');
  native.swap_outer(at(wasm, dy), at(wasm, dyt), N, Ho * Wo, O);
  const explicit: Pad = [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ];
  const conv = call(tf.Conv2D, wasm, { x: xt, filter: dyt }, {
    strides: [1, 1],
    pad: explicit,
    dataFormat: 'NHWC',
    dilations: [sh, sw],
  } as unknown as Attrs); // [Cin, rows, cols, Cout]
  free(wasm, xt, dyt);
  let cropped = conv;
  if (rows !== kh || cols !== kw) {
    cropped = call(tf.Slice, wasm, { x: conv }, { begin: [0, 0, 0, 0], size: [C, kh, kw, O] });
    free(wasm, conv);
  }
  const out = wasm.makeOutput([kh, kw, C, O], 'float32');
  native.swap_outer(at(wasm, cropped), at(wasm, out), C, kh * kw, O);
  free(wasm, cropped);
  return out;
}

/**
 * Small patches (the first layer, kh·kw·Cin = 25): dW accumulated directly from x and dy in one pass
 * (./native/kernels.c, filter_grad_direct), with dW [kh·kw·Cin, Cout] held in L1. The GEMM it replaces
 * needed an im2col copy of x, a transpose of dy and wasm's one-threaded BatchMatMul with M = Cout and
 * N = 25.
 */
function filterGradDirect(wasm: BackendWasm, x: Info, dy: Info, info: ConvInfo): Info {
  const out = wasm.makeOutput(
    [info.filterHeight, info.filterWidth, info.inChannels, info.outChannels],
    'float32',
  );
  nativeKernels(wasm).filter_grad_direct(
    at(wasm, x),
    at(wasm, dy),
    at(wasm, out),
    ...geometry(info),
    info.outChannels,
  );
  return out;
}

/**
 * Two formulations; which is faster depends on the shape (measured on the paper CNN, see
 * bench/README.md): for a small patch (its first layer, kh·kw·Cin = 25) the conv formulation has only
 * 25 output rows over a 24x24x128 kernel, which XNNPACK runs at a fraction of its speed, and the direct
 * accumulation wins; for a large one (its second layer, 1875) the conv formulation runs on both threads.
 * With OpenBLAS, every shape is im2col + one sgemm (patchesᵀ · dy): faster than both, on both layers.
 */
function conv2DBackpropFilter({ inputs, backend, attrs }: KernelArgs): Info {
  const wasm = backend as BackendWasm;
  const { x, dy } = inputs as { x: Info; dy: Info };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } =
    attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  const format = tf.backend_util.convertConv2DDataFormat(dataFormat);
  if (format !== 'channelsLast' || x.dtype !== 'float32' || dy.dtype !== 'float32' || empty(x, dy))
    return cpuFallback(tf.Conv2DBackpropFilter)({ inputs, backend, attrs }) as Info;
  const info = convInfo(x.shape, filterShape, { strides, pad, dimRoundingMode });
  if (blas) return filterGradByBlas(wasm, blas, x, dy, info, filterShape);
  return info.filterHeight * info.filterWidth * info.inChannels <= FILTER_DIRECT_MAX_PATCH
    ? filterGradDirect(wasm, x, dy, info)
    : filterGradByConv(wasm, x, dy, info);
}

/**
 * dx as a GEMM: dcol[N·Ho·Wo, kh·kw·Cin] = dy[N·Ho·Wo, Cout] · Wᵀ, then col2im (each patch row added
 * back where its input pixels came from, on the heap). The same MACs as the forward conv, where the
 * "full" convolution of dy with the flipped filter computes H·W/(Ho·Wo) times more (2.25x for the
 * paper CNN's second layer), and any stride or padding.
 */
function conv2DBackpropInput(args: KernelArgs): Info {
  const wasm = args.backend as BackendWasm;
  const { dy, filter } = args.inputs as { dy: Info; filter: Info };
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } =
    args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
  const format = tf.backend_util.convertConv2DDataFormat(dataFormat);
  if (format !== 'channelsLast' || dy.dtype !== 'float32' || filter.dtype !== 'float32' || empty(dy, filter))
    return call(tf.Conv2DBackpropInput, wasm, args.inputs, args.attrs ?? {});
  const info = convInfo(inputShape, filter.shape, { strides, pad, dimRoundingMode });
  if (blas) return inputGradByBlas(wasm, blas, dy, filter, info, inputShape);
  const { batchSize, inChannels: C, outHeight: Ho, outWidth: Wo } = info;
  const { filterHeight: kh, filterWidth: kw, outChannels: O } = info;
  const K = kh * kw * C;
  const P = batchSize * Ho * Wo;
  const wt = transpose(wasm, view(filter, [K, O]), [1, 0]); // [Cout, kh·kw·Cin]
  const dcol = gemm(wasm, dy, wt, P, O, K);
  free(wasm, wt);
  const out = wasm.makeOutput(inputShape, 'float32');
  nativeKernels(wasm).col2im(at(wasm, dcol), at(wasm, out), ...geometry(info));
  free(wasm, dcol);
  return out;
}

/** XNNPACK-backed matmul is only fast without transposes: materialise them first (cheap, O(n²)). */
function batchMatMul(args: KernelArgs): Info {
  const wasm = args.backend as BackendWasm;
  const { a, b } = args.inputs as { a: Info; b: Info };
  const { transposeA, transposeB } = args.attrs as unknown as tf.BatchMatMulAttrs;
  const viaBlas = matMulByBlas(wasm, a, b, transposeA, transposeB);
  if (viaBlas) return viaBlas;
  if (!transposeA && !transposeB) return call(tf.BatchMatMul, wasm, args.inputs, args.attrs ?? {});
  const swapLast = (t: Info): Info => {
    const perm = t.shape.map((_, i) => i);
    const r = perm.length;
    [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
    return transpose(wasm, t, perm);
  };
  const a2 = transposeA ? swapLast(a) : a;
  const b2 = transposeB ? swapLast(b) : b;
  const out = call(tf.BatchMatMul, wasm, { a: a2, b: b2 }, { transposeA: false, transposeB: false });
  if (transposeA) free(wasm, a2);
  if (transposeB) free(wasm, b2);
  return out;
}

/**
 * wasm's stock MaxPoolGrad is a slow scalar loop (14% of a `paper` training step). This one finds, per
 * pooling window, the first maximum (as the cpu kernel does) and adds dy there, directly on the heap.
 */
function maxPoolGrad(args: KernelArgs): Info {
  const wasm = args.backend as BackendWasm;
  const { dy, input } = args.inputs as { dy: Info; input: Info };
  const { filterSize, strides, pad, dimRoundingMode } = args.attrs as unknown as tf.MaxPoolGradAttrs;
  if (input.dtype !== 'float32' || dy.dtype !== 'float32' || empty(input, dy))
    return call(tf.MaxPoolGrad, wasm, args.inputs, args.attrs ?? {});
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    filterSize,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const out = wasm.makeOutput(input.shape, 'float32');
  nativeKernels(wasm).max_pool_grad(at(wasm, input), at(wasm, dy), at(wasm, out), ...geometry(info));
  return out;
}

/**
 * Sum over leading axes (the bias gradient: [N, H, W, C] -> [C]). wasm's stock Sum first transposes the
 * reduced axes innermost (a full copy), then reduces; here one pass over the data accumulates whole
 * rows in float64, in a fixed order. Other reductions go to the stock kernel. As Mean, the sums are
 * then divided by the row count (BatchNorm's batch moments are means over [N, H, W]).
 */
function reduceLeading(name: typeof tf.Sum | typeof tf.Mean, args: KernelArgs): Info {
  const wasm = args.backend as BackendWasm;
  const { x } = args.inputs as { x: Info };
  const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
  const rank = x.shape.length;
  const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
  const leading = axes.length > 0 && axes.length < rank && axes.every((a, i) => a === i);
  if (x.dtype !== 'float32' || !leading || empty(x)) return call(name, wasm, args.inputs, args.attrs ?? {});
  const kept = x.shape.slice(axes.length);
  const cols = tf.util.sizeFromShape(kept);
  const rows = tf.util.sizeFromShape(x.shape) / cols;
  const outShape = keepDims ? [...axes.map(() => 1), ...kept] : kept;
  const out = wasm.makeOutput(outShape, 'float32');
  nativeKernels(wasm).sum_rows(at(wasm, x), at(wasm, out), rows, cols);
  if (name === tf.Mean) {
    const values = wasm.typedArrayFromHeap(out) as Float32Array;
    for (let i = 0; i < cols; i++) values[i] /= rows;
  }
  return out;
}

const sum = (args: KernelArgs): Info => reduceLeading(tf.Sum, args);
const mean = (args: KernelArgs): Info => reduceLeading(tf.Mean, args);

/** Past this many innermost rows, Tile's per-row copies cost more in JS calls than the stock loop. */
const TILE_MAX_ROWS = 1 << 14;

/**
 * wasm's stock Tile computes every output element's source index with divisions: 148 ms of a 400 ms
 * `fast` training step (BatchNorm's gradient tiles [1,1,1,C] to [N,H,W,C]). Here each input row is
 * copied once and every repetition is doubled with copyWithin (memmove), innermost dimension first.
 */
function tile(args: KernelArgs): Info {
  const wasm = args.backend as BackendWasm;
  const { x } = args.inputs as { x: Info };
  const { reps } = args.attrs as unknown as tf.TileAttrs;
  const rank = x.shape.length;
  const rows = tf.util.sizeFromShape(x.shape.slice(0, -1));
  if (x.dtype === 'string' || rank === 0 || reps.length !== rank || empty(x) || rows > TILE_MAX_ROWS)
    return call(tf.Tile, wasm, args.inputs, args.attrs ?? {});
  const outShape = x.shape.map((d, i) => d * reps[i]);
  const out = wasm.makeOutput(outShape, x.dtype);
  if (tf.util.sizeFromShape(outShape) === 0) return out;
  const src = wasm.typedArrayFromHeap(x);
  const dst = wasm.typedArrayFromHeap(out);
  // Elements per index of dimension d: in x, and in the output.
  const xStride = new Array<number>(rank + 1).fill(1);
  const outStride = new Array<number>(rank + 1).fill(1);
  for (let d = rank - 1; d >= 0; d--) {
    xStride[d] = xStride[d + 1] * x.shape[d];
    outStride[d] = outStride[d + 1] * outShape[d];
  }
  const fill = (d: number, s: number, o: number): void => {
    const n = x.shape[d];
    if (d === rank - 1) dst.set(src.subarray(s, s + n), o);
    else for (let i = 0; i < n; i++) fill(d + 1, s + i * xStride[d + 1], o + i * outStride[d + 1]);
    // The first n slices are in place; repetitions copy them, doubling the copied span each time.
    const total = outStride[d];
    for (let done = n * outStride[d + 1]; done < total; done *= 2)
      dst.copyWithin(o + done, o, o + Math.min(done, total - done));
  };
  fill(0, 0, 0);
  return out;
}

/**
 * Identity, and a Cast to the same dtype, share the input's buffer (one more reference), as the cpu
 * backend does; wasm's stock kernels copy it. Tensors are immutable, so sharing is safe. A training
 * step makes ~20 such copies of activation-sized tensors (ReLU's gradient casts, layer clones).
 */
function shareOrCall(name: typeof tf.Identity | typeof tf.Cast, args: KernelArgs): Info {
  const wasm = args.backend as BackendWasm;
  const { x } = args.inputs as { x: Info };
  const dtype = name === tf.Cast ? (args.attrs as unknown as tf.CastAttrs).dtype : x.dtype;
  if (x.dtype === 'string' || dtype !== x.dtype) return call(name, wasm, args.inputs, args.attrs ?? {});
  wasm.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

function replace(kernelName: string, kernelFunc: tf.KernelFunc): void {
  const existing = tf.getKernel(kernelName, 'wasm');
  if (existing) {
    if (!stock.has(kernelName)) stock.set(kernelName, existing.kernelFunc);
    tf.unregisterKernel(kernelName, 'wasm');
  }
  // Keep the stock setupFunc: it binds the wasm function our fallback path still calls.
  tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc, setupFunc: existing?.setupFunc });
}

/** Every kernel this module registers or replaces on wasm, with its implementation: one table. */
const TRAINING_KERNELS: readonly (readonly [string, tf.KernelFunc])[] = [
  [tf.Conv2D, conv2D],
  [tf.FusedConv2D, fusedConv2D],
  [tf._FusedMatMul, fusedMatMul],
  [tf.Conv2DBackpropFilter, conv2DBackpropFilter],
  [tf.Conv2DBackpropInput, conv2DBackpropInput],
  [tf.BatchMatMul, batchMatMul],
  [tf.MaxPoolGrad, maxPoolGrad],
  [tf.Sum, sum],
  [tf.Mean, mean],
  [tf.Tile, tile],
  [tf.Identity, (args) => shareOrCall(tf.Identity, args)],
  [tf.Cast, (args) => shareOrCall(tf.Cast, args)],
  ...CPU_FALLBACK_KERNELS.map((name) => [name, cpuFallback(name)] as const),
];

/** Names of every kernel this module registers or replaces on wasm. */
export const WASM_TRAINING_KERNELS: readonly string[] = TRAINING_KERNELS.map(([name]) => name);

/** Registers the training kernels on the wasm backend; idempotent. Needs the wasm backend imported. */
export function registerWasmTrainingKernels(): void {
  if (registered) return;
  registered = true;
  for (const [name, kernel] of TRAINING_KERNELS) replace(name, kernel);
}
