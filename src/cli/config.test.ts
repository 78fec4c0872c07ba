import { describe, expect, it } from 'vitest';
import { CONFIG_ENV, dataSettings, engineSettings, parseConfig, safeParseConfig } from './config.js';
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
});
