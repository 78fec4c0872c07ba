import { join } from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import { ModelError, readLayersModel } from './io.js';
import type { ModelMetadata, ModelPart } from './metadata.js';

export interface LoadedPart {
  readonly name: string;
  readonly part: ModelPart;
  readonly model: tfl.LayersModel;
}

/** Loads a fused model directory's parts (metadata.parts), each checked against its recorded weights. */
export async function loadParts(dir: string, metadata: ModelMetadata): Promise<LoadedPart[]> {
  const out: LoadedPart[] = [];
  for (const [name, part] of Object.entries(metadata.parts ?? {})) {
    const model = await readLayersModel(join(dir, part.dir), part.weights);
    const shape = model.outputs[0].shape;
    if (shape[shape.length - 1] !== metadata.classes.length)
      throw new ModelError(
        `${dir}/${part.dir}: part ${name} has ${shape[shape.length - 1]} outputs, the model ${metadata.classes.length} classes`,
      );
    out.push({ name, part, model });
  }
  return out;
}
