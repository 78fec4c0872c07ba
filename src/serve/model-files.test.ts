// GET /api/models/:name/files/*: a served model's files for in-browser inference, byte for byte,
// only those its metadata names, only at the served version.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type HwrApp } from './app.js';
import { saveTestModel } from './testing.js';

let root: string;
let hwr: HwrApp;
let version: string;
let modelDir: string;
const SECRET = 'not-a-model-file-0b1f';

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hwr-model-files-'));
  modelDir = join(root, 'models', 'digits');
  version = (await saveTestModel(modelDir, { strokes: { fusion: { image: 1, strokes: 0.5 } } })).version;
  // Files a model directory may hold that are not the model: never served.
  await writeFile(join(modelDir, 'report.html'), '<p>report</p>');
  await mkdir(join(root, 'models', 'secret'), { recursive: true });
  await writeFile(join(root, 'secret.txt'), SECRET);
  hwr = await buildApp({
    modelsDir: join(root, 'models'),
    dataDir: join(root, 'data'),
    webDir: false,
    watch: false,
    waitForModels: true,
  });
}, 120_000);

afterAll(async () => {
  await hwr?.app.close();
  await rm(root, { recursive: true, force: true });
});

const get = (path: string) => hwr.app.inject({ method: 'GET', url: path });

describe('GET /api/models/:name/files/*', () => {
  it('serves the root network, the stroke part and the metadata byte for byte, cached for the version', async () => {
    for (const file of [
      'model.json',
      'weights.bin',
      'metadata.json',
      'strokes/model.json',
      'strokes/weights.bin',
    ]) {
      const res = await get(`/api/models/digits/files/${file}?version=${version}`);
      expect(res.statusCode, file).toBe(200);
      expect(Buffer.compare(res.rawPayload, await readFile(join(modelDir, file))), file).toBe(0);
      expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      expect(res.headers.etag).toBe(`"${encodeURIComponent(version)}"`);
      expect(res.headers['content-type']).toMatch(
        file.endsWith('.json') ? /^application\/json/ : /octet-stream/,
      );
    }
  });

  it('refuses another version, files the metadata does not name, traversal and unknown models', async () => {
    const other = await get('/api/models/digits/files/model.json?version=0');
    expect(other.statusCode).toBe(404);
    expect(other.json().error).toContain(`served at version ${version}`);
    expect((await get('/api/models/digits/files/model.json')).statusCode).toBe(400);
    expect((await get(`/api/models/digits/files/report.html?version=${version}`)).statusCode).toBe(404);
    expect((await get(`/api/models/digits/files/strokes/part.json?version=${version}`)).statusCode).toBe(404);
    for (const path of [
      '../secret.txt',
      '..%2F..%2Fsecret.txt',
      'strokes/../../secret.txt',
      '%2Fetc%2Fpasswd',
      'a/b/c.bin',
    ]) {
      const res = await get(`/api/models/digits/files/${path}?version=${version}`);
      expect([400, 404], path).toContain(res.statusCode);
      expect(res.json().error, path).toBeTypeOf('string');
      expect(res.body, path).not.toContain(SECRET);
    }
    const unknown = await get(`/api/models/nope/files/model.json?version=${version}`);
    expect(unknown.statusCode).toBe(404);
  });
});
