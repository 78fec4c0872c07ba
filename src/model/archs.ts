import * as tfl from '@tensorflow/tfjs-layers';

export const ARCH_NAMES = ['paper', 'compact', 'fast', 'wide', 'deep', 'large'] as const;
export type ArchName = (typeof ARCH_NAMES)[number];

export function isArchName(name: string): name is ArchName {
  return (ARCH_NAMES as readonly string[]).includes(name);
}

const INPUT_SHAPE = [28, 28, 1];

/**
 * The published reference CNN, layer for layer (Keras defaults: 'valid' padding, glorot-uniform
 * kernels, zero biases): 995,060 parameters for 10 classes.
 */
function paper(numClasses: number): tfl.Sequential {
  return tfl.sequential({
    name: 'paper',
    layers: [
      tfl.layers.conv2d({
        name: 'conv2d',
        inputShape: INPUT_SHAPE,
        filters: 75,
        kernelSize: 5,
        activation: 'relu',
      }),
      tfl.layers.maxPooling2d({ name: 'max_pooling2d', poolSize: 2 }),
      tfl.layers.dropout({ name: 'dropout', rate: 0.2 }),
      tfl.layers.conv2d({ name: 'conv2d_1', filters: 100, kernelSize: 5, activation: 'relu' }),
      tfl.layers.maxPooling2d({ name: 'max_pooling2d_1', poolSize: 2 }),
      tfl.layers.dropout({ name: 'dropout_1', rate: 0.2 }),
      tfl.layers.flatten({ name: 'flatten' }),
      tfl.layers.dense({ name: 'dense', units: 500, activation: 'relu' }),
      tfl.layers.dropout({ name: 'dropout_2', rate: 0.5 }),
      tfl.layers.dense({ name: 'dense_1', units: numClasses, activation: 'softmax' }),
    ],
  });
}

/**
 * The second published CNN. Its description gives no kernel size or activation for the convs;
 * we use 3x3 ReLU, the usual choice for 32/64-filter MNIST nets.
 */
function compact(numClasses: number): tfl.Sequential {
  return tfl.sequential({
    name: 'compact',
    layers: [
      tfl.layers.conv2d({ inputShape: INPUT_SHAPE, filters: 32, kernelSize: 3, activation: 'relu' }),
      tfl.layers.dropout({ rate: 0.5 }),
      tfl.layers.batchNormalization(),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      tfl.layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu' }),
      tfl.layers.dropout({ rate: 0.5 }),
      tfl.layers.batchNormalization(),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 256, activation: 'relu' }),
      tfl.layers.dense({ units: numClasses, activation: 'softmax' }),
    ],
  });
}

function convBnRelu(filters: number, kernelSize: number, first = false): tfl.layers.Layer[] {
  return [
    tfl.layers.conv2d({
      ...(first ? { inputShape: INPUT_SHAPE } : {}),
      filters,
      kernelSize,
      useBias: false, // BatchNorm's beta makes a conv bias redundant
      kernelInitializer: 'heNormal',
    }),
    tfl.layers.batchNormalization(),
    tfl.layers.activation({ activation: 'relu' }),
  ];
}

/** Our designs' common end: pool the last conv stage, then a dropout-regularised dense head. */
function denseHead(units: number, numClasses: number): tfl.layers.Layer[] {
  return [
    tfl.layers.maxPooling2d({ poolSize: 2 }),
    tfl.layers.flatten(),
    tfl.layers.dropout({ rate: 0.4 }),
    tfl.layers.dense({ units, activation: 'relu', kernelInitializer: 'heNormal' }),
    tfl.layers.dropout({ rate: 0.4 }),
    tfl.layers.dense({ units: numClasses, activation: 'softmax' }),
  ];
}

/**
 * Our own design for accuracy per CPU second. On this engine the backward convolutions dominate a
 * training step, so the net keeps convolutions few and small: 5x5 'valid' convs (32 then 64 filters,
 * about a quarter of the paper CNN's multiply-adds) with BatchNorm for fast, stable convergence, and a
 * dropout-regularised dense head. Trained with augmentation, label smoothing and a one-cycle learning
 * rate (src/train/recipes.ts).
 */
function fast(numClasses: number): tfl.Sequential {
  return tfl.sequential({
    name: 'fast',
    layers: [
      ...convBnRelu(32, 5, true),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      ...convBnRelu(64, 5),
      ...denseHead(256, numClasses),
    ],
  });
}

/**
 * `fast` with twice the filters and a wider head, for harder tasks (26 letters) where `fast`
 * under-fits: about 4x its multiply-adds.
 */
function wide(numClasses: number): tfl.Sequential {
  return tfl.sequential({
    name: 'wide',
    layers: [
      ...convBnRelu(64, 5, true),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      ...convBnRelu(128, 5),
      ...denseHead(512, numClasses),
    ],
  });
}

/** VGG-style pairs of 3x3 convs with `fast`'s head: more depth for about 2.5x its multiply-adds. */
function deep(numClasses: number): tfl.Sequential {
  return tfl.sequential({
    name: 'deep',
    layers: [
      ...convBnRelu(32, 3, true),
      ...convBnRelu(32, 3),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      ...convBnRelu(64, 3),
      ...convBnRelu(64, 3),
      ...denseHead(256, numClasses),
    ],
  });
}

/**
 * `deep` with twice the filters and head (about 4x its multiply-adds): for letters, where `deep`
 * under-fits its augmented data (training accuracy near validation accuracy). Affordable since the
 * convolutions run on OpenBLAS.
 */
function large(numClasses: number): tfl.Sequential {
  return tfl.sequential({
    name: 'large',
    layers: [
      ...convBnRelu(64, 3, true),
      ...convBnRelu(64, 3),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      ...convBnRelu(128, 3),
      ...convBnRelu(128, 3),
      ...denseHead(512, numClasses),
    ],
  });
}

const BUILDERS: Record<ArchName, (numClasses: number) => tfl.Sequential> = {
  paper,
  compact,
  fast,
  wide,
  deep,
  large,
};

/** A fresh, uncompiled model of the named architecture. */
export function buildModel(arch: ArchName, numClasses: number): tfl.Sequential {
  return BUILDERS[arch](numClasses);
}

/**
 * Stroke nets: two inputs, `seq` (points x channels, from strokeFeatures in
 * src/preprocess/stroke-features.ts) and `side` (per-drawing features), a softmax over the same classes
 * in the same order as the image model they are fused with.
 */
export const STROKE_ARCH_NAMES = ['strokes-conv', 'strokes-conv-wide', 'strokes-gru'] as const;
export type StrokeArchName = (typeof STROKE_ARCH_NAMES)[number];

export function isStrokeArchName(name: string): name is StrokeArchName {
  return (STROKE_ARCH_NAMES as readonly string[]).includes(name);
}

export interface StrokeInputShape {
  readonly points: number;
  readonly channels: number;
  readonly side: number;
}

function conv1dBnRelu(x: tfl.SymbolicTensor, filters: number, kernelSize: number): tfl.SymbolicTensor {
  const c = tfl.layers.conv1d({
    filters,
    kernelSize,
    padding: 'same',
    useBias: false, // BatchNorm's beta makes a conv bias redundant
    kernelInitializer: 'heNormal',
  });
  const bn = tfl.layers.batchNormalization();
  return tfl.layers.activation({ activation: 'relu' }).apply(bn.apply(c.apply(x))) as tfl.SymbolicTensor;
}

/** Mean and max over time (where in the sequence a feature fires matters less than that it fires),
 * joined with the side features, then a dropout-regularised dense head. */
function strokeHead(
  features: tfl.SymbolicTensor,
  side: tfl.SymbolicTensor,
  units: number,
  numClasses: number,
): tfl.SymbolicTensor {
  const mean = tfl.layers.globalAveragePooling1d().apply(features) as tfl.SymbolicTensor;
  // Max over the whole sequence as a max-pool window: the same function, but its gradient runs on the
  // engine's MaxPoolGrad; globalMaxPooling1d's goes through a broadcast Equal that wasm runs ~50x slower.
  const steps = features.shape[1] as number;
  const pooled = tfl.layers.maxPooling1d({ poolSize: steps }).apply(features) as tfl.SymbolicTensor;
  const max = tfl.layers.flatten().apply(pooled) as tfl.SymbolicTensor;
  let x = tfl.layers.concatenate().apply([mean, max, side]) as tfl.SymbolicTensor;
  x = tfl.layers.dropout({ rate: 0.3 }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers
    .dense({ units, activation: 'relu', kernelInitializer: 'heNormal' })
    .apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.dropout({ rate: 0.3 }).apply(x) as tfl.SymbolicTensor;
  return tfl.layers.dense({ units: numClasses, activation: 'softmax' }).apply(x) as tfl.SymbolicTensor;
}

/**
 * 1-D convolutions over the resampled trajectory, halving the sequence after each of the first three
 * (64 → 8 points): about half the multiply-adds of four convolutions at full length, and each output
 * position sees ~40 of the 64 input points, most of a stroke.
 */
function strokeConvNet(widths: readonly number[], units: number) {
  return (shape: StrokeInputShape, numClasses: number, name: string): tfl.LayersModel => {
    const seq = tfl.input({ name: 'seq', shape: [shape.points, shape.channels] });
    const side = tfl.input({ name: 'side', shape: [shape.side] });
    let x: tfl.SymbolicTensor = seq;
    widths.forEach((filters, i) => {
      x = conv1dBnRelu(x, filters, i < 2 ? 5 : 3);
      if (i < widths.length - 1) x = tfl.layers.maxPooling1d({ poolSize: 2 }).apply(x) as tfl.SymbolicTensor;
    });
    return tfl.model({ name, inputs: [seq, side], outputs: strokeHead(x, side, units, numClasses) });
  };
}

/** A bidirectional GRU over the trajectory after one conv stage (which halves the sequence). */
function strokeGru(shape: StrokeInputShape, numClasses: number, name: string): tfl.LayersModel {
  const seq = tfl.input({ name: 'seq', shape: [shape.points, shape.channels] });
  const side = tfl.input({ name: 'side', shape: [shape.side] });
  let x = conv1dBnRelu(seq, 64, 5);
  x = tfl.layers.maxPooling1d({ poolSize: 2 }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers
    .bidirectional({
      layer: tfl.layers.gru({
        units: 64,
        returnSequences: true,
        // tfjs-layers' default orthogonal initializer fails with this tfjs-core (rMat.flatten is not a function).
        recurrentInitializer: 'glorotUniform',
      }) as tfl.RNN,
    })
    .apply(x) as tfl.SymbolicTensor;
  return tfl.model({ name, inputs: [seq, side], outputs: strokeHead(x, side, 128, numClasses) });
}

const STROKE_BUILDERS: Record<
  StrokeArchName,
  (shape: StrokeInputShape, numClasses: number, name: string) => tfl.LayersModel
> = {
  'strokes-conv': strokeConvNet([64, 128, 128, 192], 128),
  'strokes-conv-wide': strokeConvNet([96, 192, 192, 256], 256),
  'strokes-gru': strokeGru,
};

/** A fresh, uncompiled stroke net of the named architecture. */
export function buildStrokeModel(
  arch: StrokeArchName,
  shape: StrokeInputShape,
  numClasses: number,
): tfl.LayersModel {
  return STROKE_BUILDERS[arch](shape, numClasses, arch);
}
