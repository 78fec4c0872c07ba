import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import {
  type Activation,
  activationOf,
  batchNormAffine,
  foldBatchNorm,
  fusedActivation,
  isChannelsLastBatchNorm,
  type LayerConfig,
  paddingOf,
  weight,
} from './layer-fold.js';

/**
 * An inference-only plan of a stroke net (src/model/archs.ts `strokes-conv`, `strokes-conv-wide`): the
 * same arithmetic as `model.predict([seq, side])` in fewer kernel calls, as ./fused.ts does for the
 * image CNN. Each Conv1D runs as the engine's fused 2-D convolution over a [n, 1, points, channels]
 * view (im2col + OpenBLAS sgemm, bias and ReLU in the same kernel), with the BatchNormalization after
 * it folded into its weights at compile time; pooling, global mean and max, the concatenation with the
 * side features and the dense head follow as single ops, Dropout disappears. Results differ from
 * `model.predict` by float rounding only (folding reorders a multiply); the tests bound it on real
 * drawings. Recurrent nets (`strokes-gru`) are not covered: compileFusedStrokes returns undefined and
 * the caller keeps `model.predict`.
 */
export interface FusedStrokeForward {
  /** Probabilities [n, classes] for the net's inputs in `model.inputs` order. The caller disposes it. */
  run(inputs: readonly tf.Tensor[]): tf.Tensor2D;
  /** Frees the folded weights (the model's own weights are untouched). */
  dispose(): void;
}

type Op =
  | {
      kind: 'conv1d';
      /** [1, kernel, in, out]: the Conv1D kernel as a one-row 2-D filter. */
      filter: tf.Tensor4D;
      bias?: tf.Tensor1D;
      stride: number;
      dilation: number;
      pad: 'valid' | 'same';
      activation: Activation;
    }
  | { kind: 'dense'; kernel: tf.Tensor2D; bias?: tf.Tensor1D; activation: Activation }
  | { kind: 'scale'; mul: tf.Tensor1D; add: tf.Tensor1D }
  | { kind: 'activation'; activation: Activation }
  | { kind: 'pool1d'; max: boolean; size: number; stride: number; pad: 'valid' | 'same' }
  | { kind: 'global'; max: boolean }
  | { kind: 'flatten' }
  | { kind: 'concat'; axis: number }
  | { kind: 'input' };

/** One op and the steps whose outputs it reads (indices into the plan; inputs come first). */
interface Step {
  op: Op;
  from: number[];
}

const one = (v: number | number[] | undefined | null, fallback: number): number =>
  v === undefined || v === null ? fallback : Array.isArray(v) ? v[0] : v;

/** The op of one layer, before folding; undefined for layers the plan does not cover. */
function opOf(layer: tfl.layers.Layer): Op | 'identity' | undefined {
  const cls = layer.getClassName();
  // tfjs-layers keeps the 1-D layers' sizes as one-element arrays (`one` reads either form).
  const cfg = layer.getConfig() as LayerConfig;
  if (cfg.dataFormat !== undefined && cfg.dataFormat !== 'channelsLast') return undefined;
  if (cls === 'Dropout') return 'identity';
  if (cls === 'Flatten') return { kind: 'flatten' };
  if (cls === 'GlobalAveragePooling1D' || cls === 'GlobalMaxPooling1D')
    return { kind: 'global', max: cls === 'GlobalMaxPooling1D' };
  if (cls === 'Concatenate') return { kind: 'concat', axis: one(cfg.axis, -1) };
  const activation = activationOf(cfg.activation);
  if (cls === 'Activation') return activation && { kind: 'activation', activation };
  const pad = paddingOf(cfg.padding);
  if (cls === 'MaxPooling1D' || cls === 'AveragePooling1D') {
    const size = one(cfg.poolSize, 2);
    return pad && { kind: 'pool1d', max: cls === 'MaxPooling1D', size, stride: one(cfg.strides, size), pad };
  }
  const kernel = weight(layer, 'kernel');
  const bias = weight(layer, 'bias') as tf.Tensor1D | undefined;
  if (cls === 'Dense' && activation && kernel?.rank === 2)
    return { kind: 'dense', kernel: kernel as tf.Tensor2D, bias, activation };
  if (cls === 'Conv1D' && activation && pad && kernel?.rank === 3)
    return {
      kind: 'conv1d',
      filter: kernel as unknown as tf.Tensor4D, // reshaped to [1, k, in, out] when kept
      bias,
      stride: one(cfg.strides, 1),
      dilation: one(cfg.dilationRate, 1),
      pad,
      activation,
    };
  if (cls === 'BatchNormalization' && isChannelsLastBatchNorm(layer, cfg))
    return { kind: 'scale', ...batchNormAffine(layer, cfg) };
  return undefined;
}

/** Where each layer's output comes from: the index of a step, or of an input. */
type Sources = Map<string, number>;

/** The plan's input indices of a layer's inbound tensors; undefined for a shared or multi-output layer. */
function inboundOf(layer: tfl.layers.Layer, sources: Sources): number[] | undefined {
  if (layer.inboundNodes.length !== 1) return undefined;
  const node = layer.inboundNodes[0];
  const from: number[] = [];
  for (const [i, l] of node.inboundLayers.entries()) {
    const src = sources.get(l.name);
    if (src === undefined || node.tensorIndices[i] !== 0 || node.nodeIndices[i] !== 0) return undefined;
    from.push(src);
  }
  return from;
}

/**
 * Adds `op` reading `from`, folding a BatchNormalization or an activation into the linear conv/dense
 * step it reads when nothing else reads that step. Returns the index of the step holding the result.
 */
function append(steps: Step[], readers: Map<number, number>, op: Op, from: number[]): number {
  const prev = from.length === 1 ? steps[from[0]] : undefined;
  const foldable =
    prev !== undefined &&
    (prev.op.kind === 'conv1d' || prev.op.kind === 'dense') &&
    prev.op.activation === 'linear' &&
    readers.get(from[0]) === 1;
  if (foldable && prev && (prev.op.kind === 'conv1d' || prev.op.kind === 'dense')) {
    if (op.kind === 'scale') {
      // The folded weights replace the linear layer's; the model's own variables stay untouched.
      const linear = prev.op;
      const w = linear.kind === 'conv1d' ? linear.filter : linear.kernel;
      const folded = foldBatchNorm<tf.Tensor>(w, linear.bias, op);
      for (const t of [w, linear.bias]) if (t && !isVariable(t)) t.dispose();
      if (linear.kind === 'conv1d') linear.filter = folded.w as tf.Tensor4D;
      else linear.kernel = folded.w as tf.Tensor2D;
      linear.bias = folded.b;
      op.mul.dispose();
      op.add.dispose();
      return from[0];
    }
    if (op.kind === 'activation') {
      prev.op.activation = op.activation;
      return from[0];
    }
  }
  steps.push({ op, from });
  return steps.length - 1;
}

/** Every weight tensor the plan holds (folded copies and the model's own ones alike). */
function weightsOf(op: Op): tf.Tensor[] {
  if (op.kind === 'conv1d') return [op.filter, ...(op.bias ? [op.bias] : [])];
  if (op.kind === 'dense') return [op.kernel, ...(op.bias ? [op.bias] : [])];
  if (op.kind === 'scale') return [op.mul, op.add];
  return [];
}

/** How many layers read each layer's output, by layer name. */
function readerCounts(model: tfl.LayersModel): Map<string, number> {
  const counts = new Map<string, number>();
  for (const layer of model.layers)
    for (const node of layer.inboundNodes)
      for (const l of node.inboundLayers) counts.set(l.name, (counts.get(l.name) ?? 0) + 1);
  return counts;
}

/**
 * Compiles a plan for a functional stroke net made only of Conv1D, BatchNormalization, Activation,
 * MaxPooling1D / AveragePooling1D, GlobalAveragePooling1D / GlobalMaxPooling1D, Flatten,
 * Concatenate, Dense and Dropout layers (channels last), ending in softmax; undefined for anything else.
 */
export function compileFusedStrokes(model: tfl.LayersModel): FusedStrokeForward | undefined {
  if (model.outputs.length !== 1) return undefined;
  const inputs = model.inputLayers.map((l) => l.name);
  const sources: Sources = new Map(inputs.map((name, i) => [name, i]));
  const steps: Step[] = inputs.map(() => ({ op: { kind: 'input' }, from: [] }));
  const layerReaders = readerCounts(model);
  const readers = new Map<number, number>();
  const fail = (): undefined => {
    for (const t of steps.flatMap((s) => weightsOf(s.op))) if (!isVariable(t)) t.dispose();
    return undefined;
  };
  for (const layer of model.layers) {
    if (layer.getClassName() === 'InputLayer') continue;
    const from = inboundOf(layer, sources);
    const op = from?.length ? opOf(layer) : undefined;
    if (!from?.length || !op) return fail();
    const at = op === 'identity' ? from[0] : append(steps, readers, op, from);
    sources.set(layer.name, at);
    readers.set(at, layerReaders.get(layer.name) ?? 0);
  }
  const out = sources.get(model.outputLayers[0].name);
  const last = out === undefined ? undefined : steps[out]?.op;
  const endsInSoftmax =
    out === steps.length - 1 &&
    (last?.kind === 'dense' || last?.kind === 'activation') &&
    last.activation === 'softmax';
  if (!endsInSoftmax) return fail();
  return planOf(steps, inputs.length);
}

/** Keeps every weight the plan reads (folded ones are new; the model's are cloned so it may be disposed). */
function planOf(steps: Step[], inputCount: number): FusedStrokeForward {
  const owned: tf.Tensor[] = [];
  const own = <T extends tf.Tensor>(t: T, shape?: number[]): T => {
    const kept = tf.keep(tf.tidy(() => (shape ? tf.reshape(t, shape) : tf.clone(t)) as T));
    owned.push(kept);
    return kept;
  };
  const body = steps.slice(inputCount);
  const before = new Set(body.flatMap((s) => weightsOf(s.op)));
  for (const { op } of body) {
    if (op.kind === 'conv1d') {
      op.filter = own(op.filter, [1, ...op.filter.shape.slice(-3)]);
      if (op.bias) op.bias = own(op.bias);
    } else if (op.kind === 'dense') {
      op.kernel = own(op.kernel);
      if (op.bias) op.bias = own(op.bias);
    } else if (op.kind === 'scale') {
      op.mul = own(op.mul);
      op.add = own(op.add);
    }
  }
  // Folded intermediates (not the model's own variables) are no longer needed once copied.
  for (const t of before) if (!t.isDisposed && !isVariable(t)) t.dispose();
  return {
    run: (inputs) =>
      tf.tidy(() => {
        const values: tf.Tensor[] = [...inputs];
        for (const s of body)
          values.push(
            apply(
              s.op,
              s.from.map((i) => values[i]),
            ),
          );
        return values[values.length - 1] as tf.Tensor2D;
      }),
    dispose: () => {
      for (const t of owned) t.dispose();
      owned.length = 0;
    },
  };
}

function isVariable(t: tf.Tensor): boolean {
  return t instanceof tf.Variable;
}

/** A [n, points, channels] tensor as the [n, 1, points, channels] image 2-D kernels take. */
const asRow = (x: tf.Tensor): tf.Tensor4D => tf.reshape(x, [x.shape[0], 1, x.shape[1] ?? 1, x.shape[2] ?? 1]);
const fromRow = (x: tf.Tensor): tf.Tensor3D => tf.reshape(x, [x.shape[0], x.shape[2] ?? 1, x.shape[3] ?? 1]);

function apply(op: Op, args: tf.Tensor[]): tf.Tensor {
  const x = args[0];
  switch (op.kind) {
    case 'conv1d': {
      const y = tf.fused.conv2d({
        x: asRow(x),
        filter: op.filter,
        strides: [1, op.stride],
        pad: op.pad,
        dilations: [1, op.dilation],
        bias: op.bias,
        activation: fusedActivation(op.activation),
      });
      return op.activation === 'softmax' ? tf.softmax(fromRow(y)) : fromRow(y);
    }
    case 'dense': {
      // Dense on rank > 2 input acts on the last axis, as tfjs-layers does.
      const shape = x.shape;
      const flat = x.rank === 2 ? x : tf.reshape(x, [-1, shape[shape.length - 1]]);
      let y: tf.Tensor = tf.fused.matMul({
        a: flat as tf.Tensor2D,
        b: op.kernel,
        bias: op.bias,
        activation: fusedActivation(op.activation),
      });
      if (y.rank !== shape.length) y = tf.reshape(y, [...shape.slice(0, -1), op.kernel.shape[1]]);
      return op.activation === 'softmax' ? tf.softmax(y) : y;
    }
    case 'scale':
      return tf.add(tf.mul(x, op.mul), op.add);
    case 'activation':
      return op.activation === 'relu' ? tf.relu(x) : op.activation === 'softmax' ? tf.softmax(x) : x;
    case 'pool1d': {
      const y = op.max
        ? tf.maxPool(asRow(x), [1, op.size], [1, op.stride], op.pad)
        : tf.avgPool(asRow(x), [1, op.size], [1, op.stride], op.pad);
      return fromRow(y);
    }
    case 'global':
      return op.max ? tf.max(x, 1) : tf.mean(x, 1);
    case 'flatten':
      return tf.reshape(x, [x.shape[0], -1]);
    case 'concat':
      return tf.concat(args, op.axis);
    case 'input':
      return x;
  }
}
