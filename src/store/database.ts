import type { JobReply } from '../schema/wire.js';
import type {
  FeedbackRow,
  FeedbackStats,
  IdempotencyKey,
  KeyedAdd,
  NewFeedback,
  UndoResult,
} from './feedback-store.js';
import type { StorageHealth } from './storage-fault.js';

/**
 * The storage interface of a server: feedback rows, the version records of the model store (which
 * version is current, the stack rollback walks, an event log, gate results) and retrain job records.
 * Two implementations: SQLite in the data folder (the embedded default, one host) and PostgreSQL
 * (HWR_DATABASE_URL; every replica of a cluster shares it). The model files themselves stay in the
 * models folder; the records name them and hold their sha256 so a replica can check what it loads.
 */
export type DatabaseKind = 'sqlite' | 'postgres';

export interface VersionRecord {
  readonly name: string;
  readonly version: string;
  /** sha256 (hex) of each file of the version directory, by file name. */
  readonly files: Readonly<Record<string, string>>;
  readonly createdAt: string;
  readonly note: string | null;
  readonly gate: GateRecord | null;
}

export interface GateRecord {
  readonly passed: boolean;
  readonly checks: readonly string[];
}

export interface VersionEvent {
  readonly at: string;
  readonly action: 'add' | 'promote' | 'rollback';
  readonly version: string;
  readonly from: string | null;
  readonly note: string | null;
}

/** A change of a model's current version, as every replica hears it. */
export interface CurrentChange {
  readonly name: string;
  readonly version: string;
  readonly from: string | null;
}

export interface FeedbackRecords {
  /** ok, or degraded since a write failed on a storage fault (until a write succeeds again). */
  readonly health: StorageHealth;
  /** Stores one sample durably (committed before it resolves); returns its id. */
  add(sample: NewFeedback): Promise<number>;
  /**
   * Stores one sample under a client's Idempotency-Key, once (src/store/feedback-store.ts KeyedAdd):
   * the same key and request hash again answer the first row, a different hash changes nothing.
   */
  addOnce(sample: NewFeedback, key: IdempotencyKey): Promise<KeyedAdd>;
  /**
   * Deletes row `id` if `undoHash` is the digest stored with it and it is younger than
   * UNDO_WINDOW_MS at `now`; a row is deleted at most once.
   */
  undo(id: number, undoHash: string, now?: number): Promise<UndoResult>;
  stats(model?: string): Promise<FeedbackStats>;
  /** All rows of one model (every version), oldest first. */
  rows(model: string): Promise<FeedbackRow[]>;
  /** The class list of the most recently seen version of a model, if any feedback names it. */
  classes(model: string): Promise<string[] | undefined>;
  /** Model names that have feedback. */
  models(): Promise<string[]>;
}

export interface ModelRecords {
  /** Records a version and its file hashes; a second call for the same version changes nothing. */
  addVersion(name: string, version: string, files: Record<string, string>, note?: string): Promise<void>;
  version(name: string, version: string): Promise<VersionRecord | undefined>;
  versions(name: string): Promise<VersionRecord[]>;
  setGate(name: string, version: string, gate: GateRecord): Promise<void>;
  /** Makes a recorded version current and tells every listener; unknown versions are refused. */
  promote(name: string, version: string, note?: string): Promise<CurrentChange>;
  /** Makes the version that was current before the current one current again. */
  rollback(name: string, note?: string): Promise<CurrentChange>;
  current(name: string): Promise<string | null>;
  /** Every model's current version. */
  currents(): Promise<Map<string, string>>;
  events(name: string): Promise<VersionEvent[]>;
}

/** A retrain job's record, as the admin API reports it (one schema: JobReply, parsed when read back). */
export type JobRecord = JobReply;

/** Held while a retrain job runs: one at a time across everything sharing the database. */
export interface JobLock {
  readonly jobId: string;
  release(): Promise<void>;
}

export interface JobRecords {
  save(job: JobRecord): Promise<void>;
  get(id: string): Promise<JobRecord | undefined>;
  list(): Promise<JobRecord[]>;
  /** Takes the cluster's retrain lock for `jobId`, or undefined when another job holds it. */
  tryLock(jobId: string): Promise<JobLock | undefined>;
  /** The id of the job whose lock is held by a live holder, if any. */
  lockedBy(): Promise<string | undefined>;
}

export interface HwrDatabase {
  readonly kind: DatabaseKind;
  /** Where it is, for logs: a file path, or the URL without its password. */
  readonly location: string;
  readonly feedback: FeedbackRecords;
  readonly models: ModelRecords;
  readonly jobs: JobRecords;
  /**
   * Calls `listener` for every promote or rollback, made by this process or (PostgreSQL) by any
   * other sharing the database; returns the unsubscribe function.
   */
  onCurrentChange(listener: (change: CurrentChange) => void): () => void;
  close(): Promise<void>;
}

/** A refused change of the model records (unknown version, nothing to roll back to). */
export class RecordError extends Error {
  constructor(
    message: string,
    readonly code: 'unknown-version' | 'no-earlier-version',
  ) {
    super(message);
    this.name = 'RecordError';
  }
}

/** The stack after a promote: the version goes on top (unless it is there already). */
export function pushCurrent(stack: readonly string[], version: string): string[] {
  return stack[stack.length - 1] === version ? [...stack] : [...stack, version];
}

/**
 * The stack after a rollback and the version it lands on: the current version leaves the top, then
 * the next one down that is still a recorded version.
 */
export function popCurrent(
  stack: readonly string[],
  current: string | null,
  known: ReadonlySet<string>,
): { stack: string[]; target: string | undefined } {
  const rest = [...stack];
  while (rest.length && rest[rest.length - 1] === current) rest.pop();
  while (rest.length && !known.has(rest[rest.length - 1])) rest.pop();
  return { stack: rest, target: rest[rest.length - 1] };
}

export const NOTIFY_CHANNEL = 'hwr_models';
