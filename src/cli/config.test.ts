import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  COMMAND_CONFIG,
  CONFIG_ENV,
  dataSettings,
  engineSettings,
  parseConfig,
  safeParseConfig,
} from './config.js';
import { buildProgram } from './main.js';

describe('configuration from the environment', () => {
  it('reads every variable into typed values; empty counts as unset', () => {
    const config = parseConfig({
      HWR_BACKEND: 'wasm',
      HWR_THREADS: '2',
      HWR_BLAS: 'off',
      HWR_DATA_DIR: '/data',
      HWR_CACHE_DIR: '',
      HWR_UNIPEN_SUSPECT: 'keep',
      HWR_ADMIN_TOKEN: 'a-token-of-twenty-chars',
      HWR_AUTO_RETRAIN: '50',
      HWR_DATABASE_URL: ' postgres://db/hwr ',
      PORT: '8080',
    });
    expect(config).toEqual({
      backend: 'wasm',
      threads: 2,
      blas: 'off',
      dataRoot: '/data',
      cacheRoot: undefined,
      unipenSuspect: 'keep',
      adminToken: 'a-token-of-twenty-chars',
      autoRetrain: 50,
      databaseUrl: 'postgres://db/hwr',
      port: 8080,
    });
    expect(engineSettings(config)).toEqual({ backend: 'wasm', threads: 2, blas: 'off' });
    expect(dataSettings(config)).toEqual({ dataRoot: '/data', cacheRoot: undefined, keepSuspect: true });
    expect(dataSettings(parseConfig({})).keepSuspect).toBe(false);
  });

  it('names the variable of every bad value, and never shows a secret', () => {
    const result = safeParseConfig({
      HWR_BACKEND: 'gpu',
      HWR_THREADS: '0',
      HWR_UNIPEN_SUSPECT: 'maybe',
      HWR_ADMIN_TOKEN: 'short-secret',
      HWR_AUTO_RETRAIN: '-1',
      HWR_DATABASE_URL: 'mysql://user:pw@db',
      PORT: '70000',
    });
    expect(result.success).toBe(false);
    const errors = result.success ? [] : result.errors;
    expect(errors).toEqual([
      'HWR_BACKEND must be one of tensorflow, wasm, cpu, got "gpu"',
      'HWR_THREADS must be an integer from 1 to 8, got "0"',
      'HWR_UNIPEN_SUSPECT must be "keep" or "drop", got "maybe"',
      'HWR_ADMIN_TOKEN must be at least 16 characters',
      'HWR_AUTO_RETRAIN must be a whole number of feedback rows (0 = off), got "-1"',
      'HWR_DATABASE_URL must be a postgres:// or postgresql:// URL',
      'PORT must be an integer from 0 to 65535, got "70000"',
    ]);
    expect(errors.join('\n')).not.toContain('short-secret');
    expect(Object.values(CONFIG_ENV)).toHaveLength(10);
  });

  it('lets a flag override its variable, and names the flag when the flag is bad', () => {
    const flags = { threads: { value: '3', flag: '--threads' } };
    expect(parseConfig({ HWR_THREADS: '1' }, flags).threads).toBe(3);
    const bad = safeParseConfig({ HWR_THREADS: '1' }, { threads: { value: 'many', flag: '--threads' } });
    expect(bad).toEqual({ success: false, errors: ['--threads must be an integer from 1 to 8, got "many"'] });
  });

  it('stops the CLI before the command runs, with a usage error naming the flag', async () => {
    const program = buildProgram().exitOverride();
    await expect(
      program.parseAsync(['node', 'hwr', '--backend', 'gpu', 'models', '--models', '/nonexistent', 'list']),
    ).rejects.toMatchObject({
      code: 'usage',
      message: '--backend must be one of tensorflow, wasm, cpu, got "gpu"',
    });
  });

  it('checks, per command, the variables it uses and no other', () => {
    const env = { PORT: 'abc', HWR_ADMIN_TOKEN: 'short-secret', HWR_THREADS: '2' };
    expect(safeParseConfig(env, {}, COMMAND_CONFIG.predict)).toEqual({
      success: true,
      data: { backend: undefined, threads: 2, blas: undefined },
    });
    expect(safeParseConfig(env, {}, COMMAND_CONFIG.serve)).toEqual({
      success: false,
      errors: [
        'HWR_ADMIN_TOKEN must be at least 16 characters',
        'PORT must be an integer from 0 to 65535, got "abc"',
      ],
    });
    // A flag on the command line is checked whatever the command.
    const flags = { threads: { value: '0', flag: '--threads' } };
    expect(safeParseConfig({}, flags, COMMAND_CONFIG.models)).toMatchObject({ success: false });
    // Every command says which variables it uses.
    const commands = buildProgram().commands.map((c) => c.name());
    expect(commands.filter((name) => !(name in COMMAND_CONFIG))).toEqual([]);
    expect(commands.length).toBeGreaterThan(10);
  });
});

const run = promisify(execFile);
const hwr = (env: Record<string, string>, ...args: string[]) =>
  run('node', ['bin/hwr.js', ...args], {
    env: { ...process.env, HWR_THREADS: '1', ...env },
    timeout: 60_000,
  }).catch((err: { code: number; stdout: string; stderr: string }) => err);

// The built CLI (npm run build) and the shipped digits model.
describe.skipIf(!existsSync('models/digits/metadata.json') || !existsSync('dist/cli/main.js'))(
  'a bad variable stops the commands that use it, and only those',
  () => {
    const predict = ['predict', '--json', '--model', 'models/digits', 'test/fixtures/data/mnist-test-0.png'];
    const serve = ['serve', '--models', 'models', '--port', '0'];
    it.each([
      // PORT is serve's variable: a bad value stops it even when --port is given.
      [
        { PORT: 'abc', HWR_ADMIN_TOKEN: 'short' },
        /HWR_ADMIN_TOKEN must be at least 16 characters\nPORT must be an integer from 0 to 65535, got "abc"/,
      ],
      [{ HWR_BODY_LIMIT: 'abc' }, /HWR_BODY_LIMIT must be .*got "abc"/],
    ])('%o: hwr predict reads its image, hwr serve exits 1 naming the variable', async (env, message) => {
      const predicted = await hwr(env, ...predict);
      expect(JSON.parse(predicted.stdout).label).toBe('7');
      const served = await hwr(env, ...serve);
      expect(served).toMatchObject({ code: 1 });
      expect(served.stderr).toMatch(message);
    });
  },
);
