import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';

/**
 * A kernel for any backend that copies its inputs into the cpu backend, runs the cpu backend's kernel
 * there and copies the outputs back. Correct for every shape the cpu kernel handles; used for kernels
 * that are rare in training and missing on wasm, where a copy costs less than writing a kernel.
 */
export function cpuFallback(kernelName: string): tf.KernelFunc {
  return ({ inputs, backend: anyBackend, attrs }) => {
    const backend = anyBackend as tf.KernelBackend;
    const cpuKernel = tf.getKernel(kernelName, 'cpu');
    if (!cpuKernel) throw new Error(`kernel ${kernelName} exists on neither wasm nor cpu`);
    const cpu = tf.findBackend('cpu');
    if (!cpu) throw new Error('the cpu backend failed to initialise');
    const cpuInputs: tf.NamedTensorInfoMap = {};
    const created: tf.DataId[] = [];
    for (const [name, info] of Object.entries(inputs)) {
      if (!info) continue;
      // Copy: the source may be a view on a wasm heap that moves when it grows.
      const values = (backend.readSync(info.dataId) as tf.TypedArray).slice();
      const dataId = cpu.write(values, info.shape, info.dtype);
      created.push(dataId);
      cpuInputs[name] = { dataId, shape: info.shape, dtype: info.dtype };
    }
    try {
      const result = cpuKernel.kernelFunc({ inputs: cpuInputs, backend: cpu, attrs });
      const outs = Array.isArray(result) ? result : [result];
      const moved = outs.map((o) => {
        const values = cpu.readSync(o.dataId) as tf.TypedArray;
        cpu.disposeData(o.dataId, true);
        return backendMakeOutput(backend, o.shape, o.dtype, values);
      });
      return Array.isArray(result) ? moved : moved[0];
    } finally {
      for (const dataId of created) cpu.disposeData(dataId, true);
    }
  };
}

interface OutputMaker {
  makeOutput(
    shape: number[],
    dtype: tf.DataType,
    memoryOffset?: number,
    values?: tf.TypedArray,
  ): tf.TensorInfo;
}

function backendMakeOutput(
  backend: tf.KernelBackend,
  shape: number[],
  dtype: tf.DataType,
  values: tf.TypedArray,
): tf.TensorInfo {
  const maker = backend as unknown as Partial<OutputMaker>;
  if (typeof maker.makeOutput === 'function') return maker.makeOutput(shape, dtype, undefined, values);
  return { dataId: backend.write(values, shape, dtype), shape, dtype };
}
