import { mkdtemp, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { saveTestModel } from '../../serve/testing.js';
import { ModelStore } from '../../store/store.js';
import { buildProgram } from '../main.js';

// hwr models list / promote / rollback in process, on a real store in a temp folder.
let root: string;
let models: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hwr-cli-models-'));
  models = join(root, 'models');
  await saveTestModel(join(models, 'digits'), { version: 'shipped' });
  await saveTestModel(join(root, 'cand'), { version: 'cand' });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function run(...args: string[]): Promise<string> {
  let out = '';
  vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => {
    out += `${parts.join(' ')}\n`;
  });
  try {
    await buildProgram()
      .exitOverride()
      .parseAsync(['node', 'hwr', ...args]);
  } finally {
    vi.restoreAllMocks();
  }
  return out;
}

describe('hwr models', () => {
  it('lists a plain dir, then the adopted store with the current version marked', async () => {
    expect(await run('models', '--models', models, 'list')).toMatch(/^digits \(plain, adopted as v0001/);
    await new ModelStore(models).add('digits', join(root, 'cand'));
    const listed = await run('models', '--models', models, 'list');
    expect(listed).toMatch(/^digits \(store\)\n {2}\* v0001 .*\n {4}v0002 .*parent v0001/);
    const json = JSON.parse(await run('models', '--models', models, 'list', '--json'));
    expect(json[0]).toMatchObject({ name: 'digits', kind: 'store', current: 'v0001' });
  });

  it('promotes and rolls back, and refuses what it cannot do', async () => {
    expect(await run('models', '--models', models, 'promote', 'digits', 'v0002')).toBe(
      'digits: current is now v0002\n',
    );
    expect(await readlink(join(models, 'digits', 'current'))).toBe('v0002');
    expect(await run('models', '--models', models, 'rollback', 'digits')).toMatch(/current is now v0001/);
    await expect(run('models', '--models', models, 'rollback', 'digits')).rejects.toThrow(
      /no earlier version/,
    );
    await expect(run('models', '--models', models, 'promote', 'digits', 'v0007')).rejects.toThrow(
      /has no version v0007/,
    );
    await expect(run('models', '--models', join(root, 'missing'), 'list')).rejects.toThrow(/cannot read/);
  });
});
