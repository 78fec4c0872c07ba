import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { PIXELS } from '../model/infer.js';
import { type StorageHealth, StorageHealthTracker } from '../store/storage-fault.js';

export const FEEDBACK_DB_FILE = 'feedback.sqlite';

export type InputKind = 'image' | 'pixels' | 'strokes';

export interface NewFeedback {
  /** The 28x28 ink-high bytes the model saw (784 bytes). */
  readonly pixels: Uint8Array;
  readonly inputKind: InputKind;
  /** The request's input as sent (base64 string, pixel array or strokes), stored as JSON. */
  readonly rawInput: unknown;
  readonly label: string;
  readonly predicted?: string;
  readonly modelName: string;
  readonly modelVersion: string;
  /** The model's class list, kept per version so an export can map labels to indices. */
  readonly classes: readonly string[];
  /** sha256 (hex) of the one-time token that may delete this row within UNDO_WINDOW_MS. */
  readonly undoHash?: string;
}

/**
 * A client's Idempotency-Key (IETF httpapi-idempotency-key-header) and the sha256 (hex) of the
 * request body it came with: a second request with the same key is the same correction sent again.
 */
export interface IdempotencyKey {
  readonly key: string;
  readonly requestHash: string;
}

/**
 * What `addOnce` did: stored a new row; found the row stored earlier under the key for the same
 * request (its undo digest becomes the new one: the answer carrying the first token never reached
 * the client); or found the key used for a different request (nothing changed).
 */
export type KeyedAdd =
  | { readonly kind: 'created' | 'replayed'; readonly id: number; readonly createdAt: string }
  | { readonly kind: 'mismatch' };

/** How long after its creation a row may be deleted with its undo token. */
export const UNDO_WINDOW_MS = 10 * 60_000;

/** What `undo` did: deleted, no such row, wrong (or no) token, or the undo window is over. */
export type UndoResult = 'deleted' | 'missing' | 'forbidden' | 'expired';

export interface FeedbackRow {
  readonly id: number;
  readonly createdAt: string;
  readonly modelName: string;
  readonly modelVersion: string;
  readonly label: string;
  readonly predicted: string | null;
  readonly inputKind: InputKind;
  readonly rawInput: string;
  readonly pixels: Uint8Array;
}

export interface LabelStats {
  count: number;
  /** Rows of this label that carry a prediction. */
  withPrediction: number;
  /** Rows of this label the model predicted right. */
  correct: number;
}

export interface FeedbackStats {
  model: string | null;
  total: number;
  withPrediction: number;
  correct: number;
  /** correct / withPrediction, null when no row carries a prediction. */
  accuracy: number | null;
  byLabel: Record<string, LabelStats>;
  /** (true label, predicted) pairs the model got wrong, most frequent first. */
  confusions: { label: string; predicted: string; count: number }[];
}

const SCHEMA_VERSION = 4;

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE feedback (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     created_at TEXT NOT NULL,
     model_name TEXT NOT NULL,
     model_version TEXT NOT NULL,
     label TEXT NOT NULL,
     predicted TEXT,
     input_kind TEXT NOT NULL CHECK (input_kind IN ('image', 'pixels', 'strokes')),
     raw_input TEXT NOT NULL,
     pixels BLOB NOT NULL CHECK (length(pixels) = ${PIXELS})
   );
   CREATE INDEX feedback_model_label ON feedback (model_name, label);
   CREATE TABLE model_versions (
     model_name TEXT NOT NULL,
     model_version TEXT NOT NULL,
     classes TEXT NOT NULL,
     first_seen TEXT NOT NULL,
     PRIMARY KEY (model_name, model_version)
   );`,
  // The one-time undo token's digest; rows stored before it (and by `hwr`'s own tools) have none.
  'ALTER TABLE feedback ADD COLUMN undo_hash TEXT;',
  // The model store's version records and retrain jobs (src/store/sqlite-database.ts).
  `CREATE TABLE store_versions (
     model_name TEXT NOT NULL,
     version TEXT NOT NULL,
     files TEXT NOT NULL,
     created_at TEXT NOT NULL,
     note TEXT,
     gate TEXT,
     PRIMARY KEY (model_name, version)
   );
   CREATE TABLE store_current (
     model_name TEXT PRIMARY KEY,
     version TEXT NOT NULL,
     stack TEXT NOT NULL,
     FOREIGN KEY (model_name, version) REFERENCES store_versions (model_name, version)
   );
   CREATE TABLE store_events (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     at TEXT NOT NULL,
     model_name TEXT NOT NULL,
     action TEXT NOT NULL CHECK (action IN ('add', 'promote', 'rollback')),
     version TEXT NOT NULL,
     from_version TEXT,
     note TEXT
   );
   CREATE TABLE retrain_jobs (id TEXT PRIMARY KEY, started_at TEXT NOT NULL, record TEXT NOT NULL);
   CREATE TABLE retrain_lock (
     singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
     job_id TEXT NOT NULL,
     pid INTEGER NOT NULL
   );`,
  // The client's Idempotency-Key of a correction and the digest of its body: a retry whose answer
  // was lost finds the row instead of storing it twice. NULLs (no key) never collide.
  `ALTER TABLE feedback ADD COLUMN idempotency_key TEXT;
   ALTER TABLE feedback ADD COLUMN request_hash TEXT;
   CREATE UNIQUE INDEX feedback_idempotency_key ON feedback (idempotency_key);`,
];

/** A row holds the 28x28 the model saw, nothing else. */
export function checkPixels(sample: NewFeedback): void {
  if (sample.pixels.length !== PIXELS)
    throw new Error(`feedback pixels must be ${PIXELS} bytes, got ${sample.pixels.length}`);
}

/**
 * User corrections, stored durably in SQLite (better-sqlite3, synchronous API: one insert is one
 * short transaction on the event loop, well under a millisecond plus the fsync).
 */
export class FeedbackStore {
  readonly path: string;
  private readonly db: Database.Database;
  private readonly insertRow: Database.Statement;
  private readonly insertVersion: Database.Statement;
  private readonly tracker = new StorageHealthTracker();

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true });
    this.path = resolve(join(dataDir, FEEDBACK_DB_FILE));
    this.db = new Database(this.path);
    // WAL: readers (stats, export) never block the writer and vice versa.
    this.db.pragma('journal_mode = WAL');
    // FULL: every commit fsyncs the WAL, so a 201 answer means the row survives a power cut;
    // with NORMAL the last commits before a crash of the machine may be lost. Feedback is rare
    // and precious (it is the retraining data), so the fsync per insert is worth it.
    this.db.pragma('synchronous = FULL');
    // Another process (a second worker, `hwr feedback export`) may hold the lock briefly.
    this.db.pragma('busy_timeout = 5000');
    // Checkpoint the WAL every 64 pages (256 KiB) and cut it back to 256 KiB afterwards, instead of
    // SQLite's 1000 pages (4 MB) kept forever: on a small volume the WAL would otherwise take the
    // space the rows need (2 MiB held ~98 rows with the defaults; see docs/hardening.md).
    this.db.pragma('wal_autocheckpoint = 64');
    this.db.pragma(`journal_size_limit = ${256 * 1024}`);
    try {
      this.migrate();
    } catch (err) {
      this.db.close();
      throw err;
    }
    this.insertRow = this.db.prepare(
      `INSERT INTO feedback (created_at, model_name, model_version, label, predicted, input_kind, raw_input, pixels,
                             undo_hash, idempotency_key, request_hash)
       VALUES (@createdAt, @modelName, @modelVersion, @label, @predicted, @inputKind, @rawInput, @pixels,
               @undoHash, @idempotencyKey, @requestHash)`,
    );
    this.insertVersion = this.db.prepare(
      `INSERT OR IGNORE INTO model_versions (model_name, model_version, classes, first_seen)
       VALUES (?, ?, ?, ?)`,
    );
  }

  /**
   * Brings the schema up to SCHEMA_VERSION in one write transaction (every pending migration, or
   * none). Several processes may open a fresh file at once (`hwr serve --workers 2`): BEGIN IMMEDIATE
   * takes the write lock before the version is read, so the migrations run once and the others wait,
   * then see them done; one lock per process keeps that wait short on a loaded machine.
   */
  private migrate(): void {
    this.db
      .transaction((): void => {
        const version = this.db.pragma('user_version', { simple: true }) as number;
        if (version > SCHEMA_VERSION)
          throw new Error(
            `${this.path} has schema version ${version}, newer than this hwr (${SCHEMA_VERSION}); upgrade hwr`,
          );
        for (let v = version; v < SCHEMA_VERSION; v++) this.db.exec(MIGRATIONS[v]);
        if (version < SCHEMA_VERSION) this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
      })
      .immediate();
  }

  /** ok, or degraded since a write failed on a storage fault (until a write succeeds again). */
  get health(): StorageHealth {
    return this.tracker.health;
  }

  /** Stores one sample; returns its id. A full disk or I/O fault throws a StorageError. */
  add(sample: NewFeedback): number {
    checkPixels(sample);
    const run = this.db.transaction(() => this.insert(sample, undefined, new Date().toISOString()));
    return this.tracker.write('feedback not stored', run);
  }

  /**
   * Stores one sample under a client's Idempotency-Key, once: a second call with the key and the
   * same request hash answers the first row (with `sample.undoHash` as its new undo digest), with
   * another hash it changes nothing. One IMMEDIATE transaction, so two processes take turns.
   */
  addOnce(sample: NewFeedback, idem: IdempotencyKey): KeyedAdd {
    checkPixels(sample);
    const run = this.db.transaction((): KeyedAdd => {
      const found = this.db
        .prepare(
          'SELECT id, created_at AS createdAt, request_hash AS requestHash FROM feedback WHERE idempotency_key = ?',
        )
        .get(idem.key) as { id: number; createdAt: string; requestHash: string } | undefined;
      if (found && found.requestHash !== idem.requestHash) return { kind: 'mismatch' };
      if (found) {
        this.db
          .prepare('UPDATE feedback SET undo_hash = ? WHERE id = ?')
          .run(sample.undoHash ?? null, found.id);
        return { kind: 'replayed', id: found.id, createdAt: found.createdAt };
      }
      const createdAt = new Date().toISOString();
      return { kind: 'created', id: this.insert(sample, idem, createdAt), createdAt };
    });
    return this.tracker.write('feedback not stored', () => run.immediate());
  }

  /** Inserts the row and its model version's class list; call inside a transaction. */
  private insert(sample: NewFeedback, idem: IdempotencyKey | undefined, createdAt: string): number {
    this.insertVersion.run(sample.modelName, sample.modelVersion, JSON.stringify(sample.classes), createdAt);
    const result = this.insertRow.run({
      createdAt,
      modelName: sample.modelName,
      modelVersion: sample.modelVersion,
      label: sample.label,
      predicted: sample.predicted ?? null,
      inputKind: sample.inputKind,
      rawInput: JSON.stringify(sample.rawInput),
      pixels: Buffer.from(sample.pixels.buffer, sample.pixels.byteOffset, sample.pixels.byteLength),
      undoHash: sample.undoHash ?? null,
      idempotencyKey: idem?.key ?? null,
      requestHash: idem?.requestHash ?? null,
    });
    return Number(result.lastInsertRowid);
  }

  /**
   * Deletes row `id` if `undoHash` is the digest stored with it and it is younger than
   * UNDO_WINDOW_MS at `now`. One transaction: a row is deleted at most once.
   */
  undo(id: number, undoHash: string, now = Date.now()): UndoResult {
    const run = this.db.transaction((): UndoResult => {
      const row = this.db
        .prepare('SELECT created_at AS createdAt, undo_hash AS undoHash FROM feedback WHERE id = ?')
        .get(id) as { createdAt: string; undoHash: string | null } | undefined;
      if (!row) return 'missing';
      if (row.undoHash === null || row.undoHash !== undoHash) return 'forbidden';
      if (now - Date.parse(row.createdAt) > UNDO_WINDOW_MS) return 'expired';
      this.db.prepare('DELETE FROM feedback WHERE id = ?').run(id);
      return 'deleted';
    });
    return run.immediate();
  }

  stats(model?: string): FeedbackStats {
    const where = model === undefined ? '' : 'WHERE model_name = ?';
    const rows = this.db
      .prepare(
        `SELECT label, COUNT(*) AS count, COUNT(predicted) AS withPrediction,
                SUM(CASE WHEN predicted = label THEN 1 ELSE 0 END) AS correct
         FROM feedback ${where} GROUP BY label ORDER BY label`,
      )
      .all(...(model === undefined ? [] : [model])) as Array<LabelStats & { label: string }>;
    const byLabel: Record<string, LabelStats> = {};
    let total = 0;
    let withPrediction = 0;
    let correct = 0;
    for (const r of rows) {
      byLabel[r.label] = { count: r.count, withPrediction: r.withPrediction, correct: r.correct };
      total += r.count;
      withPrediction += r.withPrediction;
      correct += r.correct;
    }
    const confusions = this.db
      .prepare(
        `SELECT label, predicted, COUNT(*) AS count FROM feedback
         WHERE predicted IS NOT NULL AND predicted <> label ${model === undefined ? '' : 'AND model_name = ?'}
         GROUP BY label, predicted ORDER BY count DESC, label, predicted`,
      )
      .all(...(model === undefined ? [] : [model])) as FeedbackStats['confusions'];
    return {
      model: model ?? null,
      total,
      withPrediction,
      correct,
      accuracy: withPrediction ? correct / withPrediction : null,
      byLabel,
      confusions,
    };
  }

  /** All rows of one model (every version), oldest first. */
  rows(model: string): FeedbackRow[] {
    const rows = this.db
      .prepare(
        `SELECT id, created_at AS createdAt, model_name AS modelName, model_version AS modelVersion,
                label, predicted, input_kind AS inputKind, raw_input AS rawInput, pixels
         FROM feedback WHERE model_name = ? ORDER BY id`,
      )
      .all(model) as Array<Omit<FeedbackRow, 'pixels'> & { pixels: Buffer }>;
    return rows.map((r) => ({ ...r, pixels: new Uint8Array(r.pixels) }));
  }

  /** The class list of the most recently seen version of a model, if any feedback names it. */
  classes(model: string): string[] | undefined {
    const row = this.db
      .prepare(
        `SELECT classes FROM model_versions WHERE model_name = ? ORDER BY first_seen DESC, rowid DESC LIMIT 1`,
      )
      .get(model) as { classes: string } | undefined;
    return row ? (JSON.parse(row.classes) as string[]) : undefined;
  }

  /** Model names that have feedback. */
  models(): string[] {
    return (
      this.db.prepare('SELECT DISTINCT model_name AS name FROM feedback ORDER BY 1').all() as Array<{
        name: string;
      }>
    ).map((r) => r.name);
  }

  /** The open connection, for the other records kept in the same file (src/store/sqlite-database.ts). */
  get connection(): Database.Database {
    return this.db;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
