import type { HwrDatabase } from './database.js';
import { DATABASE_URL_ENV, PostgresDatabase } from './postgres-database.js';
import { SqliteDatabase } from './sqlite-database.js';

export interface DatabaseConfig {
  /** postgres:// or postgresql:// URL (HWR_DATABASE_URL); unset: SQLite in dataDir. */
  readonly url?: string;
  /** Folder of feedback.sqlite, when no URL is given. */
  readonly dataDir: string;
}

/** The URL from the environment, checked for its scheme; undefined when unset or empty. */
export function databaseUrlFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const url = env[DATABASE_URL_ENV]?.trim();
  if (!url) return undefined;
  if (!/^postgres(ql)?:\/\//.test(url))
    throw new Error(`${DATABASE_URL_ENV} must be a postgres:// or postgresql:// URL`);
  return url;
}

/** PostgreSQL when a URL is configured, else the embedded SQLite file. */
export async function openDatabase(config: DatabaseConfig): Promise<HwrDatabase> {
  return config.url ? PostgresDatabase.open({ url: config.url }) : SqliteDatabase.open(config.dataDir);
}
