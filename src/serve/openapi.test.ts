import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import type { OpenAPIV3 } from 'openapi-types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HwrApp } from './app.js';
import { buildTestApp, saveTestModel } from './testing.js';

const TOKEN = 'openapi-test-token-0123456789';
let root: string;
let plain: HwrApp;
let withAdmin: HwrApp;

async function build(token: string | undefined): Promise<HwrApp> {
  return buildTestApp(root, { dataDir: join(root, token ? 'data-admin' : 'data'), admin: { token } });
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hwr-openapi-'));
  await saveTestModel(join(root, 'models', 'digits'));
  plain = await build(undefined);
  withAdmin = await build(TOKEN);
}, 60_000);

afterAll(async () => {
  await plain?.app.close();
  await withAdmin?.app.close();
  await rm(root, { recursive: true, force: true });
});

async function docOf(hwr: HwrApp): Promise<OpenAPIV3.Document> {
  const res = await hwr.app.inject('/docs/json');
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

type Operation = OpenAPIV3.OperationObject;
function operations(doc: OpenAPIV3.Document): [string, string, Operation][] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item ?? {})
      .filter(([method]) => ['get', 'post', 'put', 'delete', 'patch'].includes(method))
      .map(([method, op]) => [path, method, op as Operation] as [string, string, Operation]),
  );
}

describe('/docs/json', () => {
  it.each([
    ['without', () => plain],
    ['with', () => withAdmin],
  ])('is a valid OpenAPI 3 document %s the admin API', async (_, app) => {
    const doc = await docOf(app());
    // swagger-parser validates against the OpenAPI 3.0 JSON schema and resolves every $ref.
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeTruthy();
    const schemes = Object.keys(doc.components?.securitySchemes ?? {});
    for (const [path, method, op] of operations(doc))
      for (const requirement of op.security ?? [])
        for (const name of Object.keys(requirement))
          expect(schemes, `${method.toUpperCase()} ${path} names scheme "${name}"`).toContain(name);
  });

  it('lists the admin routes, bearer-protected, only when the token is set', async () => {
    const open = await docOf(plain);
    const admin = await docOf(withAdmin);
    expect(Object.keys(open.paths).some((p) => p.startsWith('/api/admin'))).toBe(false);
    const retrain = admin.paths['/api/admin/retrain']?.post;
    expect(retrain?.security).toEqual([{ bearer: [] }]);
    expect(admin.components?.securitySchemes?.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('documents the Idempotency-Key of POST /api/feedback and its answers', async () => {
    const op = (await docOf(plain)).paths['/api/feedback']?.post;
    const params = (op?.parameters ?? []) as OpenAPIV3.ParameterObject[];
    const header = params.find((p) => p.in === 'header');
    expect(header).toMatchObject({ name: 'idempotency-key', required: false });
    expect((header?.schema as OpenAPIV3.SchemaObject | undefined)?.pattern).toContain('{16,128}');
    expect(header?.description).toMatch(/stores the correction once/);
    expect(Object.keys(op?.responses ?? {})).toEqual(expect.arrayContaining(['200', '201', '422']));
    expect(op?.description).toMatch(/answers 200 with the first request's id/);
  });

  it('gives examples, one per input form, that the API accepts as sent by "Try it out"', async () => {
    const doc = await docOf(withAdmin);
    const expected: Record<string, number> = {
      '/api/predict': 200,
      '/api/predict/batch': 200,
      '/api/feedback': 201,
    };
    for (const [url, status] of Object.entries(expected)) {
      const body = doc.paths[url]?.post?.requestBody as OpenAPIV3.RequestBodyObject;
      const examples = body.content['application/json'].examples ?? {};
      const names = Object.keys(examples);
      expect(names.length, url).toBeGreaterThan(0);
      if (url === '/api/predict') expect(names.sort()).toEqual(['image', 'pixels', 'strokes']);
      if (url === '/api/feedback') expect(names.sort()).toEqual(['crop', 'image', 'pixels', 'strokes']);
      const labels = new Set<string>();
      for (const name of names) {
        const payload = (examples[name] as OpenAPIV3.ExampleObject).value;
        const res = await withAdmin.app.inject({ method: 'POST', url, payload });
        expect(res.statusCode, `${url} example "${name}": ${res.body}`).toBe(status);
        if (url === '/api/predict') labels.add(res.json().label);
      }
      // The three forms carry the same drawing, so the model reads them alike.
      if (url === '/api/predict') expect(labels.size).toBe(1);
    }
  });
});
