/** Input that cannot become a 28x28 MNIST-form image (nothing drawn, malformed strokes, bad raster). */
export class PreprocessError extends Error {
  override readonly name = 'PreprocessError';
}
