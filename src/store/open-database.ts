import type { HwrDatabase } from './database.js';
import { PostgresDatabase } from './postgres-database.js';
import { SqliteDatabase } from './sqlite-database.js';

export interface DatabaseConfig {
  /** postgres:// or postgresql:// URL (HWR_DATABASE_URL); unset: SQLite in dataDir. */
  readonly url?: string;
  /** Folder of feedback.sqlite, when no URL is given. */
  readonly dataDir: string;
}

/** PostgreSQL when a URL is configured, else the embedded SQLite file. */
export async function openDatabase(config: DatabaseConfig): Promise<HwrDatabase> {
  return config.url ? PostgresDatabase.open({ url: config.url }) : SqliteDatabase.open(config.dataDir);
}
