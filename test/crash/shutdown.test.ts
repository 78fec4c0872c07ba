// Graceful shutdown of `hwr serve`: SIGTERM lets an in-flight request finish, refuses new connections,
// closes the SQLite database and exits 0; a request that never finishes cannot hold it past the bound.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PIXELS } from '../../src/model/infer.js';
import { saveTestModel } from '../../src/serve/testing.js';
import { FEEDBACK_DB_FILE } from '../../src/store/feedback-store.js';
import { type ServeChild, startServe } from './child.js';

let root: string;
const children: ServeChild[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hwr-shutdown-'));
  await saveTestModel(join(root, 'models', 'digits'));
}, 60_000);

afterAll(async () => {
  for (const c of children) c.proc.kill('SIGKILL');
  await rm(root, { recursive: true, force: true });
});

const body = JSON.stringify({
  pixels: Array.from({ length: PIXELS }, (_, i) => (i % 28 > 10 && i % 28 < 16 ? 255 : 0)),
  label: '7',
  predicted: '1',
});

/** Opens a connection and sends the head and the first half of a feedback request. */
function halfRequest(url: string): Promise<{ socket: Socket; response: Promise<string> }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(
        `POST /api/feedback HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
      );
      socket.write(body.slice(0, body.length / 2));
      let received = '';
      socket.on('data', (d) => {
        received += d.toString();
      });
      const response = new Promise<string>((done) => socket.on('close', () => done(received)));
      resolve({ socket, response });
    });
    socket.on('error', reject);
  });
}

async function serve(dataDir: string, extra: string[] = []): Promise<ServeChild> {
  const child = await startServe([
    '--models',
    join(root, 'models'),
    '--data-dir',
    join(root, dataDir),
    ...extra,
  ]);
  children.push(child);
  return child;
}

describe('SIGTERM', () => {
  it('drains the in-flight request, refuses new connections, closes the database, exits 0', async () => {
    const child = await serve('data-drain');
    // hwr serve applies the default per-IP rate limits (embedders of buildApp get none).
    const predicted = await fetch(`${child.url}/api/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ pixels: JSON.parse(body).pixels }),
    });
    expect(predicted.status).toBe(200);
    expect(predicted.headers.get('x-ratelimit-limit')).toBe('300');
    const { socket, response } = await halfRequest(child.url);
    await new Promise((r) => setTimeout(r, 200));
    const signalled = Date.now();
    child.proc.kill('SIGTERM');
    await child.waitFor((l) => l.msg === 'shutting down: draining requests', 5000);

    // Still running for the open request, but no longer accepting connections.
    // (A fresh socket: fetch would reuse its keep-alive connection, which gets a 503 + close.)
    const { hostname, port } = new URL(child.url);
    const refused = await new Promise<string>((resolve) => {
      const probe = connect(Number(port), hostname, () => resolve('connected'));
      probe.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
    expect(refused).toBe('ECONNREFUSED');
    expect(child.proc.exitCode).toBeNull();

    socket.write(body.slice(body.length / 2));
    const answer = await response;
    expect(answer).toMatch(/^HTTP\/1\.1 201/);
    const id = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)).id as number;

    const exit = await child.exited;
    const ms = Date.now() - signalled;
    console.log(`SIGTERM to exit: ${ms} ms (code ${exit.code}) with one request drained`);
    expect(exit.code).toBe(0);
    expect(ms).toBeLessThan(10_000);
    expect(child.lines.some((l) => l.msg === 'shut down cleanly')).toBe(true);

    // Closed cleanly: the WAL was checkpointed and removed, the drained row is there.
    const path = join(root, 'data-drain', FEEDBACK_DB_FILE);
    expect(existsSync(`${path}-wal`)).toBe(false);
    const db = new Database(path, { readonly: true });
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(db.prepare('SELECT label, predicted FROM feedback WHERE id = ?').get(id)).toEqual({
      label: '7',
      predicted: '1',
    });
    db.close();
  }, 90_000);

  it('exits within the shutdown bound when a request never finishes', async () => {
    const child = await serve('data-stuck', ['--shutdown-timeout-ms', '1500']);
    const { socket } = await halfRequest(child.url);
    await new Promise((r) => setTimeout(r, 200));
    const signalled = Date.now();
    child.proc.kill('SIGTERM');
    const exit = await child.exited;
    const ms = Date.now() - signalled;
    socket.destroy();
    console.log(`SIGTERM to exit with a stuck request: ${ms} ms (code ${exit.code})`);
    expect(exit.code).toBe(1);
    expect(ms).toBeGreaterThanOrEqual(1400);
    expect(ms).toBeLessThan(6000);
    expect(
      child.lines.some((l) => l.msg === 'shutdown took too long; exiting with requests still open'),
    ).toBe(true);
  }, 90_000);

  it('answers every request of 64 keep-alive clients during a drain without a reset', async () => {
    const child = await serve('data-keepalive', ['--rate-predict', '0']);
    const { hostname, port } = new URL(child.url);
    const agent = new Agent({ keepAlive: true, maxSockets: 64 });
    const pixels = JSON.stringify({ pixels: JSON.parse(body).pixels });
    const counts = { ok: 0, unavailable: 0, closeHeaders: 0, refused: 0, resets: 0, other: 0 };
    const once = () =>
      new Promise<'go' | 'stop'>((resolve) => {
        const req = httpRequest(
          {
            agent,
            host: hostname,
            port,
            method: 'POST',
            path: '/api/predict',
            headers: { 'content-type': 'application/json' },
          },
          (res) => {
            res.resume();
            res.on('end', () => {
              if (res.statusCode === 200) counts.ok++;
              else if (res.statusCode === 503) counts.unavailable++;
              else counts.other++;
              if (res.headers.connection === 'close') counts.closeHeaders++;
              resolve('go');
            });
          },
        );
        req.on('error', (err: NodeJS.ErrnoException) => {
          if (err.code === 'ECONNREFUSED') counts.refused++;
          else if (err.code === 'ECONNRESET' || /socket hang up/.test(err.message)) counts.resets++;
          else counts.other++;
          resolve(err.code === 'ECONNREFUSED' ? 'stop' : 'go');
        });
        req.end(pixels);
      });
    let signalled = false;
    const clients = Array.from({ length: 64 }, async () => {
      // Each client stops at its first refused connection after the signal (the listener is closed).
      for (let i = 0; i < 10_000; i++) if ((await once()) === 'stop' && signalled) return;
    });
    await new Promise((r) => setTimeout(r, 1500));
    signalled = true;
    child.proc.kill('SIGTERM');
    await Promise.all(clients);
    const exit = await child.exited;
    agent.destroy();
    console.log(`keep-alive drain, 64 clients: ${JSON.stringify(counts)}, exit ${exit.code}`);
    expect(exit.code).toBe(0);
    expect(counts.resets).toBe(0);
    expect(counts.other).toBe(0);
    expect(counts.ok).toBeGreaterThan(64);
    expect(counts.closeHeaders).toBeGreaterThan(0); // the answers finished during the drain
  }, 90_000);
});
