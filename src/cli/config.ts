import { z } from 'zod';
import type { DatasetOptions } from '../data/dataset.js';
import { BACKEND_NAMES, type EngineSettings } from '../engine/backend.js';
import { DATABASE_URL_ENV } from '../store/postgres-database.js';
import { UsageError } from './usage-error.js';

/**
 * The environment variables hwr reads, all of them here (the server's limits have their own map,
 * LIMIT_ENV in src/serve/limits.ts). They are read once, by the CLI before a command runs, into an
 * HwrConfig that the commands pass down as options; library code reads no environment. A command
 * checks the variables it uses (COMMAND_CONFIG) and leaves the others alone.
 */
export const CONFIG_ENV = {
  backend: 'HWR_BACKEND',
  threads: 'HWR_THREADS',
  blas: 'HWR_BLAS',
  dataRoot: 'HWR_DATA_DIR',
  cacheRoot: 'HWR_CACHE_DIR',
  unipenSuspect: 'HWR_UNIPEN_SUSPECT',
  adminToken: 'HWR_ADMIN_TOKEN',
  autoRetrain: 'HWR_AUTO_RETRAIN',
  databaseUrl: DATABASE_URL_ENV,
  port: 'PORT',
} as const;

export type ConfigKey = keyof typeof CONFIG_ENV;

/** The variables of the TF.js backend (engineSettings). */
export const ENGINE_CONFIG = ['backend', 'threads', 'blas'] as const satisfies readonly ConfigKey[];
/** The variables of the dataset loaders (dataSettings). */
export const DATA_CONFIG = ['dataRoot', 'cacheRoot', 'unipenSuspect'] as const satisfies readonly ConfigKey[];

/**
 * The variables each command uses, by its name under `hwr`: a bad value of one of them stops that
 * command with a message naming it; a bad value of a variable it does not use (PORT for
 * `hwr predict`) does not concern it. A command not listed checks every variable.
 */
export const COMMAND_CONFIG: Readonly<Record<string, readonly ConfigKey[]>> = {
  train: [...ENGINE_CONFIG, ...DATA_CONFIG],
  evaluate: [...ENGINE_CONFIG, ...DATA_CONFIG],
  compare: [...ENGINE_CONFIG],
  fuse: [...ENGINE_CONFIG, ...DATA_CONFIG],
  predict: [...ENGINE_CONFIG],
  read: [...ENGINE_CONFIG],
  model: [],
  models: ['databaseUrl'],
  feedback: [],
  retrain: [...ENGINE_CONFIG, ...DATA_CONFIG, 'databaseUrl'],
  serve: [...ENGINE_CONFIG, 'adminToken', 'autoRetrain', 'databaseUrl', 'port'],
};

/** An empty variable counts as unset, as a shell's `VAR= hwr ...` means. */
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? undefined : v), schema.optional());

const integer = (min: number, max: number, error: string) =>
  z.coerce.number({ error }).int({ error }).min(min, { error }).max(max, { error });

/** One schema for the whole configuration; each message completes "<VARIABLE or --flag> ...". */
export const HwrConfigSchema = z.object({
  backend: optional(z.enum(BACKEND_NAMES, { error: `must be one of ${BACKEND_NAMES.join(', ')}` })),
  threads: optional(integer(1, 8, 'must be an integer from 1 to 8')),
  /** "off", or the path of the OpenBLAS library to load; unset: the system's libopenblas. */
  blas: optional(z.string()),
  dataRoot: optional(z.string()),
  cacheRoot: optional(z.string()),
  unipenSuspect: optional(z.enum(['keep', 'drop'], { error: 'must be "keep" or "drop"' })),
  adminToken: optional(z.string().min(16, { error: 'must be at least 16 characters' })),
  autoRetrain: optional(
    integer(0, Number.MAX_SAFE_INTEGER, 'must be a whole number of feedback rows (0 = off)'),
  ),
  databaseUrl: optional(
    z
      .string()
      .trim()
      .regex(/^postgres(ql)?:\/\//, { error: 'must be a postgres:// or postgresql:// URL' }),
  ),
  port: optional(integer(0, 65535, 'must be an integer from 0 to 65535')),
});

export type HwrConfig = z.infer<typeof HwrConfigSchema>;

/** Values given on the command line, each overriding its variable, and the flag that gave it. */
export type ConfigFlags = Partial<Record<ConfigKey, { readonly value: string; readonly flag: string }>>;

export type ConfigResult = { success: true; data: HwrConfig } | { success: false; errors: string[] };

/** Whether a message may show the value: never the admin token, nor a URL that may hold a password. */
const SECRET: ReadonlySet<ConfigKey> = new Set(['adminToken', 'databaseUrl']);

/**
 * Flags over the environment, checked by one zod safeParse; errors as data, each naming the flag or
 * the variable it came from. Only `keys` are read (default: all) and any given as a flag: the
 * others stay unset.
 */
export function safeParseConfig(
  env: Readonly<Record<string, string | undefined>>,
  flags: ConfigFlags = {},
  keys: readonly ConfigKey[] = Object.keys(CONFIG_ENV) as ConfigKey[],
): ConfigResult {
  const read = new Set([...keys, ...(Object.keys(flags) as ConfigKey[])]);
  const input = Object.fromEntries([...read].map((k) => [k, flags[k]?.value ?? env[CONFIG_ENV[k]]]));
  const parsed = HwrConfigSchema.safeParse(input);
  if (parsed.success) return { success: true, data: parsed.data };
  const errors = parsed.error.issues.map((issue) => {
    const key = issue.path[0] as ConfigKey;
    const where = flags[key]?.flag ?? CONFIG_ENV[key];
    return `${where} ${issue.message}${SECRET.has(key) ? '' : `, got "${input[key]}"`}`;
  });
  return { success: false, errors };
}

/** safeParseConfig for the CLI edge: a bad value is a usage error listing every bad value. */
export function parseConfig(
  env: Readonly<Record<string, string | undefined>>,
  flags: ConfigFlags = {},
  keys?: readonly ConfigKey[],
): HwrConfig {
  const result = safeParseConfig(env, flags, keys);
  if (!result.success) throw new UsageError(result.errors.join('\n'));
  return result.data;
}

/** What the commands get from the CLI edge: the configuration, parsed before the command runs. */
export interface CliEdge {
  readonly config: HwrConfig;
}

/** The backend settings initBackend takes. */
export function engineSettings(config: HwrConfig): EngineSettings {
  return { backend: config.backend, threads: config.threads, blas: config.blas };
}

/** The dataset loaders' options that come from the environment. */
export function dataSettings(
  config: HwrConfig,
): Pick<DatasetOptions, 'dataRoot' | 'cacheRoot' | 'keepSuspect'> {
  return {
    dataRoot: config.dataRoot,
    cacheRoot: config.cacheRoot,
    keepSuspect: config.unipenSuspect === 'keep',
  };
}
