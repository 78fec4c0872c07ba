import { EventEmitter } from 'node:events';
import type Database from 'better-sqlite3';
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
  popCurrent,
  pushCurrent,
  RecordError,
  type VersionEvent,
  type VersionRecord,
} from './database.js';
import { FeedbackStore } from './feedback-store.js';

interface VersionRow {
  model_name: string;
  version: string;
  files: string;
  created_at: string;
  note: string | null;
  gate: string | null;
}

const toVersion = (r: VersionRow): VersionRecord => ({
  name: r.model_name,
  version: r.version,
  files: JSON.parse(r.files) as Record<string, string>,
  createdAt: r.created_at,
  note: r.note,
  gate: r.gate ? (JSON.parse(r.gate) as GateRecord) : null,
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Version records in the SQLite file; a change is heard by this process's listeners only. */
class SqliteModelRecords implements ModelRecords {
  constructor(
    private readonly db: Database.Database,
    private readonly changed: (change: CurrentChange) => void,
  ) {}

  async addVersion(name: string, version: string, files: Record<string, string>, note?: string) {
    const at = new Date().toISOString();
    this.db.transaction(() => {
      const added = this.db
        .prepare(
          `INSERT OR IGNORE INTO store_versions (model_name, version, files, created_at, note) VALUES (?, ?, ?, ?, ?)`,
        )
        .run(name, version, JSON.stringify(files), at, note ?? null);
      if (added.changes)
        this.db
          .prepare(
            `INSERT INTO store_events (at, model_name, action, version, note) VALUES (?, ?, 'add', ?, ?)`,
          )
          .run(at, name, version, note ?? null);
    })();
  }

  async version(name: string, version: string) {
    const row = this.db
      .prepare('SELECT * FROM store_versions WHERE model_name = ? AND version = ?')
      .get(name, version) as VersionRow | undefined;
    return row && toVersion(row);
  }

  async versions(name: string) {
    const rows = this.db
      .prepare('SELECT * FROM store_versions WHERE model_name = ? ORDER BY version')
      .all(name) as VersionRow[];
    return rows.map(toVersion);
  }

  async setGate(name: string, version: string, gate: GateRecord) {
    const r = this.db
      .prepare('UPDATE store_versions SET gate = ? WHERE model_name = ? AND version = ?')
      .run(JSON.stringify(gate), name, version);
    if (!r.changes)
      throw new RecordError(`model "${name}" has no recorded version ${version}`, 'unknown-version');
  }

  /** Reads the pointer, lets `next` pick the new stack and target, writes both and the event. */
  private switchTo(
    name: string,
    action: 'promote' | 'rollback',
    note: string | undefined,
    next: (stack: string[], current: string | null) => { stack: string[]; target: string },
  ): CurrentChange {
    const change = this.db
      .transaction((): CurrentChange => {
        const row = this.db
          .prepare('SELECT version, stack FROM store_current WHERE model_name = ?')
          .get(name) as { version: string; stack: string } | undefined;
        const from = row?.version ?? null;
        const { stack, target } = next(row ? (JSON.parse(row.stack) as string[]) : [], from);
        this.db
          .prepare(
            `INSERT INTO store_current (model_name, version, stack) VALUES (?, ?, ?)
           ON CONFLICT (model_name) DO UPDATE SET version = excluded.version, stack = excluded.stack`,
          )
          .run(name, target, JSON.stringify(stack));
        this.db
          .prepare(
            `INSERT INTO store_events (at, model_name, action, version, from_version, note) VALUES (?, ?, ?, ?, ?, ?)`,
          )
          .run(new Date().toISOString(), name, action, target, from, note ?? null);
        return { name, version: target, from };
      })
      .immediate();
    this.changed(change);
    return change;
  }

  async promote(name: string, version: string, note?: string) {
    return this.switchTo(name, 'promote', note, (stack) => {
      if (
        !this.db
          .prepare('SELECT 1 FROM store_versions WHERE model_name = ? AND version = ?')
          .get(name, version)
      )
        throw new RecordError(`model "${name}" has no recorded version ${version}`, 'unknown-version');
      return { stack: pushCurrent(stack, version), target: version };
    });
  }

  async rollback(name: string, note?: string) {
    return this.switchTo(name, 'rollback', note, (stack, current) => {
      const known = new Set(
        (
          this.db.prepare('SELECT version FROM store_versions WHERE model_name = ?').all(name) as {
            version: string;
          }[]
        ).map((r) => r.version),
      );
      const { stack: rest, target } = popCurrent(stack, current, known);
      if (!target)
        throw new RecordError(`model "${name}" has no earlier version to roll back to`, 'no-earlier-version');
      return { stack: rest, target };
    });
  }

  async current(name: string) {
    const row = this.db.prepare('SELECT version FROM store_current WHERE model_name = ?').get(name) as
      | { version: string }
      | undefined;
    return row?.version ?? null;
  }

  async currents() {
    const rows = this.db.prepare('SELECT model_name, version FROM store_current').all() as {
      model_name: string;
      version: string;
    }[];
    return new Map(rows.map((r) => [r.model_name, r.version]));
  }

  async events(name: string): Promise<VersionEvent[]> {
    return this.db
      .prepare(
        `SELECT at, action, version, from_version AS "from", note FROM store_events WHERE model_name = ? ORDER BY id`,
      )
      .all(name) as VersionEvent[];
  }
}

/**
 * Retrain job records in the SQLite file. The lock is a row naming the job and the process that
 * holds it: one host shares a SQLite file, so a holder whose process is gone is stale.
 */
class SqliteJobRecords implements JobRecords {
  constructor(private readonly db: Database.Database) {}

  async save(job: JobRecord) {
    this.db
      .prepare(
        `INSERT INTO retrain_jobs (id, started_at, record) VALUES (?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET record = excluded.record`,
      )
      .run(job.id, job.startedAt, JSON.stringify(job));
  }

  async get(id: string) {
    const row = this.db.prepare('SELECT record FROM retrain_jobs WHERE id = ?').get(id) as
      | { record: string }
      | undefined;
    return row ? JobReply.parse(JSON.parse(row.record)) : undefined;
  }

  async list() {
    const rows = this.db.prepare('SELECT record FROM retrain_jobs ORDER BY started_at, id').all() as {
      record: string;
    }[];
    return rows.map((r) => JobReply.parse(JSON.parse(r.record)));
  }

  async tryLock(jobId: string): Promise<JobLock | undefined> {
    const took = this.db
      .transaction((): boolean => {
        const row = this.db.prepare('SELECT pid FROM retrain_lock').get() as { pid: number } | undefined;
        if (row && alive(row.pid)) return false;
        this.db
          .prepare(
            `INSERT INTO retrain_lock (singleton, job_id, pid) VALUES (1, ?, ?)
           ON CONFLICT (singleton) DO UPDATE SET job_id = excluded.job_id, pid = excluded.pid`,
          )
          .run(jobId, process.pid);
        return true;
      })
      .immediate();
    if (!took) return undefined;
    return {
      jobId,
      release: async () => {
        this.db.prepare('DELETE FROM retrain_lock WHERE job_id = ? AND pid = ?').run(jobId, process.pid);
      },
    };
  }

  async lockedBy() {
    const row = this.db.prepare('SELECT job_id, pid FROM retrain_lock').get() as
      | { job_id: string; pid: number }
      | undefined;
    return row && alive(row.pid) ? row.job_id : undefined;
  }
}

/** The embedded store: everything in data/feedback.sqlite (WAL, fsync per commit). */
export class SqliteDatabase implements HwrDatabase {
  readonly kind = 'sqlite';
  readonly location: string;
  readonly feedback: FeedbackRecords;
  readonly models: ModelRecords;
  readonly jobs: JobRecords;
  private readonly events = new EventEmitter();

  constructor(readonly store: FeedbackStore) {
    this.location = store.path;
    const db = store.connection;
    this.feedback = {
      get health() {
        return store.health;
      },
      add: async (sample) => store.add(sample),
      addOnce: async (sample, key) => store.addOnce(sample, key),
      undo: async (id, undoHash, now) => store.undo(id, undoHash, now),
      stats: async (model) => store.stats(model),
      rows: async (model) => store.rows(model),
      classes: async (model) => store.classes(model),
      models: async () => store.models(),
    };
    this.models = new SqliteModelRecords(db, (change) => this.events.emit('change', change));
    this.jobs = new SqliteJobRecords(db);
  }

  static open(dataDir: string): SqliteDatabase {
    return new SqliteDatabase(new FeedbackStore(dataDir));
  }

  onCurrentChange(listener: (change: CurrentChange) => void): () => void {
    this.events.on('change', listener);
    return () => this.events.off('change', listener);
  }

  async close() {
    this.events.removeAllListeners();
    this.store.close();
  }
}
