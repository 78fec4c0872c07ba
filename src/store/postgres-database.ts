import { EventEmitter } from 'node:events';
import pg from 'pg';
import { JobReply } from '../schema/wire.js';
import {
  type CurrentChange,
  type FeedbackRecords,
  type GateRecord,
  type HwrDatabase,
  type JobLock,
  type JobRecord,
  type JobRecords,
  type ModelRecords,
  NOTIFY_CHANNEL,
  popCurrent,
  pushCurrent,
  RecordError,
  type VersionEvent,
  type VersionRecord,
} from './database.js';
import {
  checkPixels,
  type FeedbackRow,
  type FeedbackStats,
  type IdempotencyKey,
  type KeyedAdd,
  type LabelStats,
  type NewFeedback,
  UNDO_WINDOW_MS,
  type UndoResult,
} from './feedback-store.js';
import { LOCK_CLASS, migrate, RETRAIN_LOCK } from './postgres-migrations.js';
import { type StorageHealth, StorageHealthTracker } from './storage-fault.js';

export const DATABASE_URL_ENV = 'HWR_DATABASE_URL';

/** The URL without its password, for logs and errors. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<unparsable database URL>';
  }
}

class PgFeedback implements FeedbackRecords {
  private readonly tracker = new StorageHealthTracker();

  constructor(private readonly pool: pg.Pool) {}

  get health(): StorageHealth {
    return this.tracker.health;
  }

  /** Stores one sample; an unreachable server, a full disk or a read-only standby throw a StorageError. */
  async add(sample: NewFeedback): Promise<number> {
    checkPixels(sample);
    return this.tracker.writeAsync('feedback not stored', async () => {
      const row = await this.insert(sample, undefined);
      if (!row) throw new Error('feedback insert returned no row');
      return row.id;
    });
  }

  /**
   * Inserts under the key, or (ON CONFLICT: the key's row exists, committed; a concurrent insert of
   * the same key waits for it) updates that row's undo digest when the request hash is the same.
   * An undo deleting the row between the two statements leaves the key free: the insert is tried again.
   */
  async addOnce(sample: NewFeedback, idem: IdempotencyKey): Promise<KeyedAdd> {
    checkPixels(sample);
    return this.tracker.writeAsync('feedback not stored', async () => {
      for (let attempt = 0; attempt < 3; attempt++) {
        const created = await this.insert(sample, idem);
        if (created) return { kind: 'created', ...created };
        const { rows } = await this.pool.query<{ id: string; created_at: Date; same: boolean }>(
          `UPDATE feedback SET undo_hash = CASE WHEN request_hash = $2 THEN $3 ELSE undo_hash END
           WHERE idempotency_key = $1 RETURNING id, created_at, request_hash = $2 AS same`,
          [idem.key, idem.requestHash, sample.undoHash ?? null],
        );
        const row = rows[0];
        if (row && !row.same) return { kind: 'mismatch' };
        if (row) return { kind: 'replayed', id: Number(row.id), createdAt: row.created_at.toISOString() };
      }
      throw new Error(`feedback under Idempotency-Key ${idem.key} was inserted and deleted three times`);
    });
  }

  /** The new row's id and time, or undefined when a row holds the key already. */
  private async insert(
    sample: NewFeedback,
    idem: IdempotencyKey | undefined,
  ): Promise<{ id: number; createdAt: string } | undefined> {
    // One statement, so one implicit transaction: the class list and the row commit together, and
    // the answer comes after the commit's WAL flush (synchronous_commit on, the default).
    const { rows } = await this.pool.query<{ id: string; created_at: Date }>(
      `WITH classes AS (
         INSERT INTO feedback_classes (model_name, model_version, classes) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING)
       INSERT INTO feedback (model_name, model_version, label, predicted, input_kind, raw_input, pixels, undo_hash,
                             idempotency_key, request_hash)
       VALUES ($1, $2, $4, $5, $6, $7, $8, $9, $10, $11)
       ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, created_at`,
      [
        sample.modelName,
        sample.modelVersion,
        JSON.stringify(sample.classes),
        sample.label,
        sample.predicted ?? null,
        sample.inputKind,
        JSON.stringify(sample.rawInput),
        Buffer.from(sample.pixels.buffer, sample.pixels.byteOffset, sample.pixels.byteLength),
        sample.undoHash ?? null,
        idem?.key ?? null,
        idem?.requestHash ?? null,
      ],
    );
    const row = rows[0];
    return row && { id: Number(row.id), createdAt: row.created_at.toISOString() };
  }

  async undo(id: number, undoHash: string, now = Date.now()): Promise<UndoResult> {
    return inTransaction(this.pool, async (client) => {
      // FOR UPDATE: two undos of one row (two replicas) take turns; the second finds it gone.
      const { rows } = await client.query<{ created_at: Date; undo_hash: string | null }>(
        'SELECT created_at, undo_hash FROM feedback WHERE id = $1 FOR UPDATE',
        [id],
      );
      const row = rows[0];
      if (!row) return 'missing';
      if (row.undo_hash === null || row.undo_hash !== undoHash) return 'forbidden';
      if (now - row.created_at.getTime() > UNDO_WINDOW_MS) return 'expired';
      await client.query('DELETE FROM feedback WHERE id = $1', [id]);
      return 'deleted';
    });
  }

  async stats(model?: string): Promise<FeedbackStats> {
    const { rows } = await this.pool.query<LabelStats & { label: string }>(
      `SELECT label, COUNT(*)::int AS count, COUNT(predicted)::int AS "withPrediction",
              COUNT(*) FILTER (WHERE predicted = label)::int AS correct
       FROM feedback WHERE $1::text IS NULL OR model_name = $1 GROUP BY label ORDER BY label COLLATE "C"`,
      [model ?? null],
    );
    const byLabel: Record<string, LabelStats> = {};
    let [total, withPrediction, correct] = [0, 0, 0];
    for (const r of rows) {
      byLabel[r.label] = { count: r.count, withPrediction: r.withPrediction, correct: r.correct };
      total += r.count;
      withPrediction += r.withPrediction;
      correct += r.correct;
    }
    const confusions = await this.pool.query<FeedbackStats['confusions'][number]>(
      `SELECT label, predicted, COUNT(*)::int AS count FROM feedback
       WHERE predicted IS NOT NULL AND predicted <> label AND ($1::text IS NULL OR model_name = $1)
       GROUP BY label, predicted ORDER BY count DESC, label COLLATE "C", predicted COLLATE "C"`,
      [model ?? null],
    );
    return {
      model: model ?? null,
      total,
      withPrediction,
      correct,
      accuracy: withPrediction ? correct / withPrediction : null,
      byLabel,
      confusions: confusions.rows,
    };
  }

  async rows(model: string): Promise<FeedbackRow[]> {
    const { rows } = await this.pool.query(
      `SELECT id, created_at, model_name, model_version, label, predicted, input_kind, raw_input, pixels
       FROM feedback WHERE model_name = $1 ORDER BY id`,
      [model],
    );
    return rows.map((r) => ({
      id: Number(r.id),
      createdAt: (r.created_at as Date).toISOString(),
      modelName: r.model_name,
      modelVersion: r.model_version,
      label: r.label,
      predicted: r.predicted,
      inputKind: r.input_kind,
      rawInput: r.raw_input,
      pixels: new Uint8Array(r.pixels as Buffer),
    }));
  }

  async classes(model: string): Promise<string[] | undefined> {
    const { rows } = await this.pool.query<{ classes: string[] }>(
      'SELECT classes FROM feedback_classes WHERE model_name = $1 ORDER BY first_seen DESC LIMIT 1',
      [model],
    );
    return rows[0]?.classes;
  }

  async models(): Promise<string[]> {
    const { rows } = await this.pool.query<{ name: string }>(
      'SELECT DISTINCT model_name AS name FROM feedback ORDER BY 1',
    );
    return rows.map((r) => r.name);
  }
}

const toVersion = (r: Record<string, unknown>): VersionRecord => ({
  name: r.model_name as string,
  version: r.version as string,
  files: r.files as Record<string, string>,
  createdAt: (r.created_at as Date).toISOString(),
  note: (r.note as string | null) ?? null,
  gate: (r.gate as GateRecord | null) ?? null,
});

async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const out = await fn(client);
    await client.query('COMMIT');
    return out;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

class PgModels implements ModelRecords {
  constructor(private readonly pool: pg.Pool) {}

  async addVersion(name: string, version: string, files: Record<string, string>, note?: string) {
    await this.pool.query(
      `WITH added AS (
         INSERT INTO store_versions (model_name, version, files, note) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING RETURNING model_name)
       INSERT INTO store_events (model_name, action, version, note) SELECT $1, 'add', $2, $4 FROM added`,
      [name, version, JSON.stringify(files), note ?? null],
    );
  }

  async version(name: string, version: string) {
    const { rows } = await this.pool.query(
      'SELECT * FROM store_versions WHERE model_name = $1 AND version = $2',
      [name, version],
    );
    return rows[0] && toVersion(rows[0]);
  }

  async versions(name: string) {
    const { rows } = await this.pool.query(
      'SELECT * FROM store_versions WHERE model_name = $1 ORDER BY version',
      [name],
    );
    return rows.map(toVersion);
  }

  async setGate(name: string, version: string, gate: GateRecord) {
    const r = await this.pool.query(
      'UPDATE store_versions SET gate = $3 WHERE model_name = $1 AND version = $2',
      [name, version, JSON.stringify(gate)],
    );
    if (!r.rowCount)
      throw new RecordError(`model "${name}" has no recorded version ${version}`, 'unknown-version');
  }

  /**
   * Reads the pointer under a row lock (a model's switches are serialised), lets `next` pick the new
   * stack and target, writes both, the event and a NOTIFY: PostgreSQL delivers the notification at
   * commit, to every listening replica, and never for a rolled-back switch.
   */
  private async switchTo(
    name: string,
    action: 'promote' | 'rollback',
    note: string | undefined,
    next: (
      client: pg.PoolClient,
      stack: string[],
      current: string | null,
    ) => Promise<{ stack: string[]; target: string }>,
  ): Promise<CurrentChange> {
    return inTransaction(this.pool, async (client) => {
      // Serialises the first promote of a model too (no row to lock yet).
      await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_CLASS, name]);
      const { rows } = await client.query<{ version: string; stack: string[] }>(
        'SELECT version, stack FROM store_current WHERE model_name = $1',
        [name],
      );
      const from = rows[0]?.version ?? null;
      const { stack, target } = await next(client, rows[0]?.stack ?? [], from);
      await client.query(
        `INSERT INTO store_current (model_name, version, stack) VALUES ($1, $2, $3)
         ON CONFLICT (model_name) DO UPDATE SET version = excluded.version, stack = excluded.stack`,
        [name, target, JSON.stringify(stack)],
      );
      await client.query(
        `INSERT INTO store_events (model_name, action, version, from_version, note) VALUES ($1, $2, $3, $4, $5)`,
        [name, action, target, from, note ?? null],
      );
      const change: CurrentChange = { name, version: target, from };
      await client.query('SELECT pg_notify($1, $2)', [NOTIFY_CHANNEL, JSON.stringify(change)]);
      return change;
    });
  }

  async promote(name: string, version: string, note?: string) {
    return this.switchTo(name, 'promote', note, async (client, stack) => {
      const known = await client.query(
        'SELECT 1 FROM store_versions WHERE model_name = $1 AND version = $2',
        [name, version],
      );
      if (!known.rowCount)
        throw new RecordError(`model "${name}" has no recorded version ${version}`, 'unknown-version');
      return { stack: pushCurrent(stack, version), target: version };
    });
  }

  async rollback(name: string, note?: string) {
    return this.switchTo(name, 'rollback', note, async (client, stack, current) => {
      const { rows } = await client.query<{ version: string }>(
        'SELECT version FROM store_versions WHERE model_name = $1',
        [name],
      );
      const { stack: rest, target } = popCurrent(stack, current, new Set(rows.map((r) => r.version)));
      if (!target)
        throw new RecordError(`model "${name}" has no earlier version to roll back to`, 'no-earlier-version');
      return { stack: rest, target };
    });
  }

  async current(name: string) {
    const { rows } = await this.pool.query<{ version: string }>(
      'SELECT version FROM store_current WHERE model_name = $1',
      [name],
    );
    return rows[0]?.version ?? null;
  }

  async currents() {
    const { rows } = await this.pool.query<{ model_name: string; version: string }>(
      'SELECT model_name, version FROM store_current',
    );
    return new Map(rows.map((r) => [r.model_name, r.version]));
  }

  async events(name: string): Promise<VersionEvent[]> {
    const { rows } = await this.pool.query(
      `SELECT at, action, version, from_version, note FROM store_events WHERE model_name = $1 ORDER BY id`,
      [name],
    );
    return rows.map((r) => ({
      at: (r.at as Date).toISOString(),
      action: r.action,
      version: r.version,
      from: r.from_version,
      note: r.note,
    }));
  }
}

/**
 * Job records in a table; the lock is a session-level advisory lock on a connection kept for the
 * job's lifetime: PostgreSQL frees it when that connection ends, so a replica killed mid-job never
 * leaves a stale lock behind.
 */
class PgJobs implements JobRecords {
  /** Connections holding the lock, closed by close() (the pool waits for checked-out ones). */
  readonly held = new Set<pg.PoolClient>();

  constructor(private readonly pool: pg.Pool) {}

  async save(job: JobRecord) {
    await this.pool.query(
      `INSERT INTO retrain_jobs (id, started_at, record) VALUES ($1, $2, $3)
       ON CONFLICT (id) DO UPDATE SET record = excluded.record`,
      [job.id, job.startedAt, JSON.stringify(job)],
    );
  }

  async get(id: string) {
    const { rows } = await this.pool.query<{ record: unknown }>(
      'SELECT record FROM retrain_jobs WHERE id = $1',
      [id],
    );
    return rows[0] ? JobReply.parse(rows[0].record) : undefined;
  }

  async list() {
    const { rows } = await this.pool.query<{ record: unknown }>(
      'SELECT record FROM retrain_jobs ORDER BY started_at, id',
    );
    return rows.map((r) => JobReply.parse(r.record));
  }

  async tryLock(jobId: string): Promise<JobLock | undefined> {
    const client = await this.pool.connect();
    let took = false;
    try {
      const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [
        LOCK_CLASS,
        RETRAIN_LOCK,
      ]);
      took = rows[0].ok;
      if (took)
        await client.query(`SELECT set_config('application_name', $1, false)`, [`hwr retrain ${jobId}`]);
    } finally {
      if (!took) client.release();
    }
    if (!took) return undefined;
    // Held for the job's lifetime: a connection that fails meanwhile has lost the lock with it.
    const onError = () => {};
    client.on('error', onError);
    this.held.add(client);
    return {
      jobId,
      release: async () => {
        if (!this.held.delete(client)) return;
        client.off('error', onError);
        try {
          await client.query('SELECT pg_advisory_unlock($1, $2)', [LOCK_CLASS, RETRAIN_LOCK]);
          client.release();
        } catch (err) {
          client.release(err as Error); // a broken connection is closed, which frees the lock too
        }
      },
    };
  }

  async lockedBy() {
    // The holder's connection carries the job id in its application_name.
    const { rows } = await this.pool.query<{ name: string }>(
      `SELECT a.application_name AS name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
       WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 2`,
      [LOCK_CLASS, RETRAIN_LOCK],
    );
    const name = rows[0]?.name;
    return name?.startsWith('hwr retrain ') ? name.slice('hwr retrain '.length) : undefined;
  }
}

export interface PostgresOptions {
  readonly url: string;
  /** Pool size per process (default 10). */
  readonly maxConnections?: number;
  /** Called when the LISTEN connection fails; it reconnects by itself. */
  readonly onListenError?: (err: Error) => void;
}

/** The shared store: every replica connects to one PostgreSQL and hears promotes by LISTEN/NOTIFY. */
export class PostgresDatabase implements HwrDatabase {
  readonly kind = 'postgres';
  readonly location: string;
  readonly feedback: FeedbackRecords;
  readonly models: ModelRecords;
  readonly jobs: PgJobs;
  private readonly events = new EventEmitter();
  private listener: pg.Client | undefined;
  private closed = false;
  private reconnect: NodeJS.Timeout | undefined;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly options: PostgresOptions,
  ) {
    this.location = redactUrl(options.url);
    this.feedback = new PgFeedback(pool);
    this.models = new PgModels(pool);
    this.jobs = new PgJobs(pool);
  }

  /** Connects, runs the migrations (under an advisory lock) and starts listening for promotes. */
  static async open(options: PostgresOptions): Promise<PostgresDatabase> {
    const pool = new pg.Pool({ connectionString: options.url, max: options.maxConnections ?? 10 });
    // An idle connection that fails (server restart) is dropped from the pool, not thrown.
    pool.on('error', () => {});
    try {
      const client = await pool.connect();
      try {
        await migrate(client);
      } finally {
        client.release();
      }
    } catch (err) {
      await pool.end();
      throw new Error(`PostgreSQL at ${redactUrl(options.url)}: ${(err as Error).message}`, { cause: err });
    }
    const db = new PostgresDatabase(pool, options);
    await db.listen();
    return db;
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.options.url });
    const retry = (err: Error) => {
      if (this.closed || this.listener !== client) return;
      this.listener = undefined;
      client.end().catch(() => {});
      this.options.onListenError?.(err);
      this.reconnect = setTimeout(() => {
        this.listen()
          .then(() => this.resync())
          .catch((e: Error) => retry(e));
      }, 1000);
      this.reconnect.unref();
    };
    this.listener = client;
    client.on('error', retry);
    client.on('end', () => retry(new Error('LISTEN connection closed')));
    client.on('notification', (msg) => {
      if (msg.channel !== NOTIFY_CHANNEL || !msg.payload) return;
      try {
        this.events.emit('change', JSON.parse(msg.payload) as CurrentChange);
      } catch {
        // not ours
      }
    });
    await client.connect();
    await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
  }

  /** After a reconnect, notifications sent meanwhile are lost: every current pointer is re-announced. */
  private async resync(): Promise<void> {
    for (const [name, version] of await this.models.currents())
      this.events.emit('change', { name, version, from: null } satisfies CurrentChange);
  }

  onCurrentChange(listener: (change: CurrentChange) => void): () => void {
    this.events.on('change', listener);
    return () => this.events.off('change', listener);
  }

  async close() {
    this.closed = true;
    clearTimeout(this.reconnect);
    this.events.removeAllListeners();
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => {});
    // A job lock still held (the server stops mid-job): its connection is closed, which frees it.
    for (const client of this.jobs.held) client.release(new Error('database closed'));
    this.jobs.held.clear();
    await this.pool.end();
  }
}
