import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../main.js';

let root: string;
let taken: Server;
let port: number;

beforeAll(async () => {
  process.env.HWR_THREADS = '1';
  root = await mkdtemp(join(tmpdir(), 'hwr-cli-serve-'));
  await mkdir(join(root, 'models'));
  taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  port = (taken.address() as { port: number }).port;
});

afterAll(async () => {
  await new Promise((resolve) => taken.close(resolve));
  await rm(root, { recursive: true, force: true });
});

describe('hwr serve', () => {
  it('on a port already taken, says so and which flag picks another', async () => {
    const run = buildProgram()
      .exitOverride()
      .parseAsync([
        'node',
        'hwr',
        'serve',
        '--port',
        String(port),
        '--models',
        join(root, 'models'),
        '--data-dir',
        join(root, 'data'),
        '--no-inference-thread',
      ]);
    await expect(run).rejects.toThrow(
      new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use .*--port N \\(or PORT=N\\)`),
    );
  });
});
