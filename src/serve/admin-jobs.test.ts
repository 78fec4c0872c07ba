import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { afterEach, describe, expect, it } from 'vitest';
import { DIGIT_CLASSES } from '../data/dataset.js';
import { useTempDir } from '../data/test-helpers.js';
import { PIXELS } from '../model/infer.js';
import { RetrainJobs } from '../retrain/jobs.js';
import { ModelCatalog } from '../store/catalog.js';
import { SqliteDatabase } from '../store/sqlite-database.js';
import { ModelStore } from '../store/store.js';
import { registerAdminRoutes } from './admin.js';
import { addErrorHandlers, DEFAULT_BODY_LIMIT } from './app.js';
import { ModelRegistry } from './registry.js';
import { saveTestModel } from './testing.js';

// Job handling of the admin API with a stand-in for the `hwr` CLI (a node one-liner with a chosen
// exit code), so these tests check the job lifecycle without paying for a training run; the real
// `hwr retrain` child runs in src/retrain/retrain.test.ts.

const TOKEN = 'jobs-test-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };
const tempDir = useTempDir();
const quiet = { info() {}, warn() {}, error() {} };
let app: FastifyInstance | undefined;
let store: SqliteDatabase | undefined;
let registry: ModelRegistry | undefined;

afterEach(async () => {
  await app?.close();
  await registry?.close();
  await store?.close();
});

async function setup(exitCode: number, extra: { autoRetrainEvery?: number } = {}) {
  const root = await tempDir();
  await saveTestModel(join(root, 'models', 'digits'), { version: 'shipped' });
  registry = new ModelRegistry({ dir: join(root, 'models'), log: quiet });
  await registry.rescan();
  store = SqliteDatabase.open(join(root, 'data'));
  app = Fastify();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  addErrorHandlers(app, DEFAULT_BODY_LIMIT);
  registerAdminRoutes(app, {
    registry,
    database: store,
    catalog: new ModelCatalog(new ModelStore(join(root, 'models')), store),
    dataDir: join(root, 'data'),
    defaultModel: 'digits',
    token: TOKEN,
    perMinute: 0, // a bare Fastify app: no rate-limit plugin (the throttle is tested in admin.test.ts)
    // Prints its arguments like a log line, waits a little, exits with the chosen code.
    hwrCommand: [
      process.execPath,
      '-e',
      `console.error('args', process.argv.slice(1).join(' ')); setTimeout(() => process.exit(${exitCode}), 300)`,
    ],
    autoRetrainPollMs: 50,
    ...extra,
  });
  await app.ready();
  return { root, app, store };
}

async function waitForJob(a: FastifyInstance, id: string) {
  const end = Date.now() + 20_000;
  for (;;) {
    const job = (await a.inject({ url: `/api/admin/jobs/${id}`, headers: auth })).json();
    if (job.state !== 'running') return job;
    if (Date.now() > end) throw new Error('job did not finish');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('admin retrain jobs', () => {
  it('runs one job at a time, reports its end, and maps exit code 2 to "rejected"', async () => {
    const { app: a, root } = await setup(2);
    const first = await a.inject({
      method: 'POST',
      url: '/api/admin/retrain',
      headers: auth,
      payload: { epochs: 1, replay: 100 },
    });
    expect(first.statusCode).toBe(202);
    const job = first.json();
    expect(job.state).toBe('running');
    expect(job.args).toEqual(
      expect.arrayContaining([
        'retrain',
        '--base',
        join(root, 'models', 'digits'),
        '--promote',
        '--epochs',
        '1',
      ]),
    );
    expect(job.args).toContain(join(root, 'data', 'feedback.sqlite'));
    const busy = await a.inject({ method: 'POST', url: '/api/admin/retrain', headers: auth, payload: {} });
    expect(busy.statusCode).toBe(409);
    expect(busy.json().error).toContain(job.id);

    const done = await waitForJob(a, job.id);
    expect(done).toMatchObject({ state: 'rejected', exitCode: 2, promoted: null });
    expect(done.log.join('\n')).toMatch(/args .*--replay 100/);
    const list = (await a.inject({ url: '/api/admin/jobs', headers: auth })).json();
    expect(list.jobs.map((j: { id: string }) => j.id)).toEqual([job.id]);
    // Free again.
    await new Promise((r) => setTimeout(r, 100));
    const next = await a.inject({ method: 'POST', url: '/api/admin/retrain', headers: auth, payload: {} });
    expect(next.statusCode).toBe(202);
    await waitForJob(a, next.json().id);
  });

  it('reports a failing child as "failed" and honours a job lock held by another live process', async () => {
    const { app: a, root } = await setup(1);
    const res = await a.inject({ method: 'POST', url: '/api/admin/retrain', headers: auth, payload: {} });
    expect((await waitForJob(a, res.json().id)).state).toBe('failed');
    await new Promise((r) => setTimeout(r, 100));
    // Another server worker's job (this process's pid stands for a live one).
    await writeFile(join(root, 'data', 'retrain-jobs', '.running'), `${process.pid} other\n`);
    expect(
      (await a.inject({ method: 'POST', url: '/api/admin/retrain', headers: auth, payload: {} })).statusCode,
    ).toBe(409);
    // A lock left by a dead process is stale.
    await writeFile(join(root, 'data', 'retrain-jobs', '.running'), '999999999 gone\n');
    const taken = await a.inject({ method: 'POST', url: '/api/admin/retrain', headers: auth, payload: {} });
    expect(taken.statusCode).toBe(202);
    await waitForJob(a, taken.json().id);
  });

  it('starts a job by itself after N new feedback rows when asked to', async () => {
    const { app: a, store: s } = await setup(0, { autoRetrainEvery: 3 });
    await new Promise((r) => setTimeout(r, 200)); // baseline taken
    const add = () =>
      s.feedback.add({
        pixels: new Uint8Array(PIXELS).fill(9),
        inputKind: 'pixels',
        rawInput: null,
        label: '1',
        modelName: 'digits',
        modelVersion: 'shipped',
        classes: DIGIT_CLASSES,
      });
    await add();
    await add();
    await new Promise((r) => setTimeout(r, 300));
    expect((await a.inject({ url: '/api/admin/jobs', headers: auth })).json().jobs).toEqual([]);
    await add();
    const end = Date.now() + 10_000;
    let jobs: { id: string; model: string }[] = [];
    while (jobs.length === 0 && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 50));
      jobs = (await a.inject({ url: '/api/admin/jobs', headers: auth })).json().jobs;
    }
    expect(jobs).toHaveLength(1);
    expect(jobs[0].model).toBe('digits');
    // Exit 0 without a result file: the gate passed but nothing was promoted.
    expect((await waitForJob(a, jobs[0].id)).state).toBe('passed');
  });

  it('shows a job started by one server process to the others sharing the data folder', async () => {
    const dir = join(await tempDir(), 'retrain-jobs');
    // Two `hwr serve --workers 2` processes, each with its own RetrainJobs, one jobs folder.
    const stand = (code: number) => [
      process.execPath,
      '-e',
      `console.error('working'); setTimeout(() => process.exit(${code}), 700)`,
    ];
    const a = new RetrainJobs(dir, stand(2));
    const b = new RetrainJobs(dir, stand(0));
    const req = { model: 'digits', base: 'models/digits', feedback: 'data/feedback.sqlite' };
    const job = await a.start(req);
    if (!job) throw new Error('job not started');
    expect((await b.get(job.id))?.state).toBe('running');
    expect(await b.start(req)).toBeUndefined(); // the lock is A's
    const end = Date.now() + 20_000;
    let seen = await b.get(job.id);
    while (seen?.state === 'running' && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 50));
      seen = await b.get(job.id);
    }
    expect(seen).toMatchObject({ id: job.id, state: 'rejected', exitCode: 2, model: 'digits' });
    expect(seen?.log).toContain('working');
    expect((await b.list()).map((j) => j.id)).toEqual([job.id]);
    await a.idle();
    // B's own job is listed after A's, by both.
    const second = await b.start(req);
    if (!second) throw new Error('second job not started');
    await b.idle();
    expect((await a.list()).map((j) => [j.id, j.state])).toEqual([
      [job.id, 'rejected'],
      [second.id, 'passed'],
    ]);
    // A record a stopped server left "running" (no live process holds the lock for it) reads as failed.
    const orphan = { ...second, id: '20260101T000000-0000aa', state: 'running', startedAt: '2026-01-01' };
    await mkdir(join(dir, orphan.id));
    await writeFile(join(dir, orphan.id, 'job.json'), JSON.stringify(orphan));
    expect(await b.get(orphan.id)).toMatchObject({ state: 'failed' });
    expect((await b.get(orphan.id))?.log.at(-1)).toMatch(/no process is running this job/);
    await writeFile(join(dir, '.running'), `${process.pid} ${orphan.id}\n`);
    expect((await b.get(orphan.id))?.state).toBe('running');
    await rm(join(dir, '.running'));
    // Ids are only looked up in the jobs folder in their own format.
    expect(await b.get('../retrain-jobs')).toBeUndefined();
    expect(await b.get('20990101T000000-abcdef')).toBeUndefined();
  });
});
