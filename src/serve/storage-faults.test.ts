import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PIXELS } from '../model/infer.js';
import { saveTestModel } from './testing.js';

// A real full disk: `hwr serve` runs in its own mount namespace (unshare -rm: as root, or as a user
// where user namespaces are allowed) with its data folder on a 2 MiB tmpfs, 512 KiB of which is a
// ballast file the test deletes to free space.

const canUnshare = (() => {
  try {
    execFileSync('unshare', ['-rm', 'sh', '-c', 'mount -t tmpfs -o size=64k tmpfs /mnt'], {
      stdio: 'ignore',
    });
    return true;
  } catch {
    return false;
  }
})();
if (!canUnshare) console.warn('storage-faults: unshare -rm with a tmpfs mount is not allowed here; skipped');

let root: string;
let server: ChildProcess;
let url: string;
const data = join(tmpdir(), `hwr-full-${process.pid}`);
const pixels = Array.from({ length: PIXELS }, (_, i) => (i * 37) % 256);

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

async function get(path: string) {
  const res = await fetch(`${url}${path}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function post(path: string, body: object) {
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  if (!canUnshare) return;
  root = await mkdtemp(join(tmpdir(), 'hwr-full-models-'));
  await saveTestModel(join(root, 'models', 'digits'), { version: 'full-disk' });
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  const script = [
    'mkdir -p "$DATA"',
    'mount -t tmpfs -o size=2m tmpfs "$DATA"',
    'dd if=/dev/zero of="$DATA/ballast" bs=64k count=8 2>/dev/null',
    `exec node bin/hwr.js serve --models "$MODELS" --data-dir "$DATA" --port ${port} --rate-feedback 0 --rate-predict 0 --no-inference-thread --log-level warn`,
  ].join(' && ');
  server = spawn('unshare', ['-rm', 'sh', '-c', script], {
    env: { ...process.env, DATA: data, MODELS: join(root, 'models'), HWR_THREADS: '1' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const end = Date.now() + 60_000;
  for (;;) {
    const ready = await get('/readyz').catch(() => undefined);
    if (ready?.status === 200) break;
    if (Date.now() > end || server.exitCode !== null) throw new Error('hwr serve did not become ready');
    await new Promise((r) => setTimeout(r, 200));
  }
}, 90_000);

afterAll(async () => {
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
  }
  if (root) await rm(root, { recursive: true, force: true });
  await rm(data, { recursive: true, force: true });
});

describe.runIf(canUnshare)('a full data disk (2 MiB tmpfs)', () => {
  it('answers 507 with the cause, never 500; /readyz degraded; predictions go on; recovers when space is freed', async () => {
    expect((await get('/readyz')).body.feedback).toEqual({ status: 'ok' });
    const statuses = new Map<number, number>();
    let accepted = 0;
    let refused: { status: number; body: Record<string, unknown> } | undefined;
    for (let i = 0; i < 2000 && !refused; i++) {
      const res = await post('/api/feedback', { pixels, label: String(i % 10) });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status === 201) accepted++;
      else refused = res;
    }
    console.log(
      `full disk: ${accepted} feedback rows stored in 2 MiB (512 KiB ballast) before the first refusal`,
    );
    expect(refused?.status).toBe(507);
    expect(refused?.body.error).toMatch(
      /feedback not stored: the data folder's disk is full \(SQLITE_FULL\)/,
    );
    expect(accepted).toBeGreaterThan(150);
    // Every further attempt gets the same clear answer, never a 500.
    for (let i = 0; i < 20; i++)
      expect((await post('/api/feedback', { pixels, label: '1' })).status).toBe(507);
    const ready = await get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe('degraded');
    expect(ready.body.feedback).toMatchObject({
      status: 'degraded',
      cause: expect.stringMatching(/disk is full/),
    });
    const predicted = await post('/api/predict', { pixels });
    expect(predicted.status).toBe(200);
    expect(predicted.body.label).toBeDefined();
    // Stats still read; every acknowledged row is there.
    expect((await get('/api/feedback/stats')).body.total).toBe(accepted);

    // Free the ballast from outside the namespace: the next write succeeds without a restart.
    await rm(`/proc/${server.pid}/root${data}/ballast`);
    expect((await post('/api/feedback', { pixels, label: '7' })).status).toBe(201);
    const recovered = await get('/readyz');
    expect(recovered.body).toMatchObject({ status: 'ready', feedback: { status: 'ok' } });
    expect((await get('/api/feedback/stats')).body.total).toBe(accepted + 1);
    expect(statuses.get(500)).toBeUndefined();
  }, 120_000);
});
