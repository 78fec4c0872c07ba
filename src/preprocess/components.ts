/** 8-connected components of a binary mask, with their areas and bounding boxes. */

export interface Box {
  readonly x0: number;
  readonly y0: number;
  /** Inclusive. */
  readonly x1: number;
  /** Inclusive. */
  readonly y1: number;
}

export interface Component extends Box {
  /** Label in `labels` (1-based). */
  readonly id: number;
  readonly area: number;
}

export interface Labelling {
  /** 0 = not in the mask, else the component's id. */
  readonly labels: Int32Array;
  readonly components: Component[];
}

/** Labels the 8-connected components of `mask` (non-zero = set) by flood fill with an explicit stack. */
export function labelComponents(mask: Uint8Array, width: number, height: number): Labelling {
  const labels = new Int32Array(width * height);
  const components: Component[] = [];
  const stack: number[] = [];
  for (let start = 0; start < mask.length; start++) {
    if (!mask[start] || labels[start]) continue;
    const id = components.length + 1;
    let area = 0;
    let x0 = width;
    let y0 = height;
    let x1 = -1;
    let y1 = -1;
    labels[start] = id;
    stack.push(start);
    while (stack.length) {
      const p = stack.pop() as number;
      const x = p % width;
      const y = (p - x) / width;
      area++;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
      for (let dy = -1; dy <= 1; dy++) {
        const ny = y + dy;
        if (ny < 0 || ny >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          if (nx < 0 || nx >= width) continue;
          const q = ny * width + nx;
          if (mask[q] && !labels[q]) {
            labels[q] = id;
            stack.push(q);
          }
        }
      }
    }
    components.push({ id, area, x0, y0, x1, y1 });
  }
  return { labels, components };
}

/** Sets every pixel within `radius` (Chebyshev distance) of a set pixel. */
export function dilate(mask: Uint8Array, width: number, height: number, radius: number): Uint8Array {
  const rows = new Uint8Array(mask.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (!mask[y * width + x]) continue;
      for (let nx = Math.max(0, x - radius); nx <= Math.min(width - 1, x + radius); nx++)
        rows[y * width + nx] = 1;
    }
  }
  const out = new Uint8Array(mask.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (!rows[y * width + x]) continue;
      for (let ny = Math.max(0, y - radius); ny <= Math.min(height - 1, y + radius); ny++)
        out[ny * width + x] = 1;
    }
  }
  return out;
}
