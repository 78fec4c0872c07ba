/**
 * The helpers of ./native/kernels.c (wasm SIMD), instantiated on the wasm backend's own memory so
 * they read and write tensors in place. Built by src/engine/native/build.sh; the modules are embedded
 * in ./native/kernels-wasm.ts.
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { KERNELS_SHARED_WASM, KERNELS_WASM } from './native/kernels-wasm.js';

/** Conv geometry, in the argument order of kernels.c (after the two buffer pointers). */
export type ConvGeometry = readonly [
  batch: number,
  height: number,
  width: number,
  channels: number,
  outHeight: number,
  outWidth: number,
  filterHeight: number,
  filterWidth: number,
  strideHeight: number,
  strideWidth: number,
  padTop: number,
  padLeft: number,
];

/** Byte offsets into the backend's heap. */
export interface NativeKernels {
  col2im(col: number, dx: number, ...g: ConvGeometry): void;
  /** x NHWC -> col [N·Ho·Wo, kh·kw·C], zero where the patch leaves the image. */
  im2col(x: number, col: number, ...g: ConvGeometry): void;
  /** y[r, :] += bias (skipped when bias is 0), then ReLU when relu is 1. */
  bias_act(y: number, bias: number, rows: number, cols: number, relu: number): void;
  /** x [A, B, blk] -> out [B, A, blk]. */
  swap_outer(x: number, out: number, a: number, b: number, blk: number): void;
  /** Per matrix m < batches: out[m·outBatch + c·outRow + r] = x[m·xBatch + r·xRow + c] (in floats). */
  transpose_strided(
    x: number,
    out: number,
    batches: number,
    rows: number,
    cols: number,
    xBatch: number,
    xRow: number,
    outBatch: number,
    outRow: number,
  ): void;
  sum_rows(x: number, out: number, rows: number, cols: number): void;
  /** Conv2DBackpropFilter straight into dw [kh, kw, C, cout], for small patches. */
  filter_grad_direct(x: number, dy: number, dw: number, ...g: [...ConvGeometry, cout: number]): void;
  max_pool_grad(x: number, dy: number, dx: number, ...g: ConvGeometry): void;
  /** Batch moments of x [rows, c] over its rows. */
  bn_moments(x: number, mean: number, variance: number, rows: number, c: number): void;
  /** y = (x - mean) * gamma / sqrt(variance + eps) + beta; `factor` [c] is scratch. */
  bn_forward(
    x: number,
    mean: number,
    variance: number,
    gamma: number,
    beta: number,
    factor: number,
    y: number,
    rows: number,
    c: number,
    eps: number,
  ): void;
  /** The gradient of bn_forward with the moments differentiated through; `factors` [2c] is scratch. */
  bn_backward(
    dy: number,
    x: number,
    mean: number,
    variance: number,
    gamma: number,
    dx: number,
    dGamma: number,
    dBeta: number,
    factors: number,
    rows: number,
    c: number,
    eps: number,
  ): void;
}

interface EmscriptenModule {
  wasmMemory?: WebAssembly.Memory; // threaded build: the shared memory it created
  asm?: { memory?: WebAssembly.Memory }; // plain build: the memory it exports
}

const instances = new WeakMap<WebAssembly.Memory, NativeKernels>();

function base64Bytes(text: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(Buffer.from(text, 'base64'));
}

/** The backend's wasm memory: the heap its tensors live on. */
function backendMemory(backend: BackendWasm): WebAssembly.Memory {
  const module = backend.wasm as unknown as EmscriptenModule;
  const memory = module.wasmMemory ?? module.asm?.memory;
  if (!memory) throw new Error('the wasm backend exposes no memory to bind the training kernels to');
  return memory;
}

/** The helpers bound to this backend's memory (compiled once per memory). */
export function nativeKernels(backend: BackendWasm): NativeKernels {
  const memory = backendMemory(backend);
  let kernels = instances.get(memory);
  if (!kernels) {
    const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
    const bytes = base64Bytes(shared ? KERNELS_SHARED_WASM : KERNELS_WASM);
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
    kernels = instance.exports as unknown as NativeKernels;
    instances.set(memory, kernels);
  }
  return kernels;
}

const heaps = new WeakMap<WebAssembly.Memory, Float32Array>();

/** A Float32Array over the whole heap, for the BLAS addon (renewed when the memory grows). */
export function heapFloat32(backend: BackendWasm): Float32Array {
  const memory = backendMemory(backend);
  let heap = heaps.get(memory);
  if (!heap || heap.buffer !== memory.buffer) {
    heap = new Float32Array(memory.buffer);
    heaps.set(memory, heap);
  }
  return heap;
}

/** Byte offset of a tensor's data on the heap. */
export function heapOffset(backend: BackendWasm, dataId: object): number {
  const data = backend.dataIdMap.get(dataId) as { memoryOffset: number } | undefined;
  if (!data) throw new Error('tensor data is not on the wasm heap');
  return data.memoryOffset;
}
