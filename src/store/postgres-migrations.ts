import type pg from 'pg';
import { PIXELS } from '../model/infer.js';

/**
 * The PostgreSQL schema, one entry per version, applied in order and recorded in
 * hwr_schema_migrations. Never edit an applied entry: add the next one.
 */
export const PG_MIGRATIONS: readonly string[] = [
  `CREATE TABLE feedback (
     id BIGSERIAL PRIMARY KEY,
     created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
     model_name TEXT NOT NULL,
     model_version TEXT NOT NULL,
     label TEXT NOT NULL,
     predicted TEXT,
     input_kind TEXT NOT NULL CHECK (input_kind IN ('image', 'pixels', 'strokes')),
     raw_input TEXT NOT NULL,
     pixels BYTEA NOT NULL CHECK (octet_length(pixels) = ${PIXELS}),
     undo_hash TEXT
   );
   CREATE INDEX feedback_model_label ON feedback (model_name, label);
   CREATE TABLE feedback_classes (
     model_name TEXT NOT NULL,
     model_version TEXT NOT NULL,
     classes JSONB NOT NULL,
     first_seen TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
     PRIMARY KEY (model_name, model_version)
   );
   CREATE TABLE store_versions (
     model_name TEXT NOT NULL,
     version TEXT NOT NULL,
     files JSONB NOT NULL,
     created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
     note TEXT,
     gate JSONB,
     PRIMARY KEY (model_name, version)
   );
   CREATE TABLE store_current (
     model_name TEXT PRIMARY KEY,
     version TEXT NOT NULL,
     stack JSONB NOT NULL,
     FOREIGN KEY (model_name, version) REFERENCES store_versions (model_name, version)
   );
   CREATE TABLE store_events (
     id BIGSERIAL PRIMARY KEY,
     at TIMESTAMPTZ NOT NULL DEFAULT now(),
     model_name TEXT NOT NULL,
     action TEXT NOT NULL CHECK (action IN ('add', 'promote', 'rollback')),
     version TEXT NOT NULL,
     from_version TEXT,
     note TEXT
   );
   CREATE TABLE retrain_jobs (id TEXT PRIMARY KEY, started_at TEXT NOT NULL, record JSONB NOT NULL);`,
  // The client's Idempotency-Key of a correction and the digest of its body: a retry whose answer
  // was lost finds the row instead of storing it twice. NULLs (no key) never collide.
  `ALTER TABLE feedback ADD COLUMN idempotency_key TEXT, ADD COLUMN request_hash TEXT;
   CREATE UNIQUE INDEX feedback_idempotency_key ON feedback (idempotency_key);`,
];

/** Advisory lock keys (two int4s: hwr's class, then the purpose). */
export const LOCK_CLASS = 0x6877_72; // "hwr"
export const MIGRATION_LOCK = 1;
export const RETRAIN_LOCK = 2;

/**
 * Brings the schema up to date. Replicas start together: the advisory lock makes one of them apply
 * each migration (in its own transaction) while the others wait, then find nothing left to do.
 */
export async function migrate(client: pg.ClientBase): Promise<number> {
  await client.query('SELECT pg_advisory_lock($1, $2)', [LOCK_CLASS, MIGRATION_LOCK]);
  try {
    await client.query(
      `CREATE TABLE IF NOT EXISTS hwr_schema_migrations (
         version INTEGER PRIMARY KEY,
         applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
       )`,
    );
    const { rows } = await client.query<{ v: number | null }>(
      'SELECT max(version) AS v FROM hwr_schema_migrations',
    );
    const at = rows[0].v ?? 0;
    if (at > PG_MIGRATIONS.length)
      throw new Error(
        `the database has schema version ${at}, newer than this hwr (${PG_MIGRATIONS.length}); upgrade hwr`,
      );
    for (let v = at; v < PG_MIGRATIONS.length; v++) {
      await client.query('BEGIN');
      try {
        await client.query(PG_MIGRATIONS[v]);
        await client.query('INSERT INTO hwr_schema_migrations (version) VALUES ($1)', [v + 1]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      }
    }
    return PG_MIGRATIONS.length;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1, $2)', [LOCK_CLASS, MIGRATION_LOCK]);
  }
}
