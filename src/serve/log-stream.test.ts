import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TurnBatchedStream } from './log-stream.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hwr-log-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const turn = () => new Promise((r) => setImmediate(r));

describe('TurnBatchedStream', () => {
  it('writes the lines of one event-loop turn together, in order, after the turn', async () => {
    const file = join(dir, 'a.log');
    const fd = openSync(file, 'w');
    const stream = new TurnBatchedStream(fd);
    stream.write('one\n');
    stream.write('two\n');
    expect(readFileSync(file, 'utf8')).toBe('');
    await turn();
    expect(readFileSync(file, 'utf8')).toBe('one\ntwo\n');
    stream.write('three ü\n');
    stream.close(); // flushes what is pending
    expect(readFileSync(file, 'utf8')).toBe('one\ntwo\nthree ü\n');
    // A line after close (the server's last words before process.exit) is written at once.
    stream.write('four\n');
    expect(readFileSync(file, 'utf8')).toBe('one\ntwo\nthree ü\nfour\n');
    closeSync(fd);
  });

  it('carries a Fastify access log as JSON lines', async () => {
    const file = join(dir, 'b.log');
    const fd = openSync(file, 'w');
    const stream = new TurnBatchedStream(fd);
    const app = Fastify({ logger: { level: 'info', stream } });
    app.get('/x', async () => ({ ok: true }));
    await app.inject({ method: 'GET', url: '/x' });
    await app.inject({ method: 'GET', url: '/x' });
    await app.close();
    stream.close();
    closeSync(fd);
    const lines = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.msg === 'request completed')).toHaveLength(2);
  });
});
