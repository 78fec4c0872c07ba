/**
 * Faults of the storage under a store (the feedback database, the data folder): a full disk, an I/O
 * error, a read-only file system. They are not bugs of a request, so they get their own answers:
 * 507 Insufficient Storage for a full disk, 503 for the others, each with a message naming the cause.
 */
import { HwrError } from '../util/errors.js';

export type StorageFaultKind = 'disk-full' | 'io-error' | 'read-only' | 'busy' | 'unreachable';

export const STORAGE_FAULT_STATUS: Readonly<Record<StorageFaultKind, number>> = {
  'disk-full': 507,
  'io-error': 503,
  'read-only': 503,
  busy: 503,
  unreachable: 503,
};

const DESCRIPTION: Readonly<Record<StorageFaultKind, string>> = {
  'disk-full': "the data folder's disk is full",
  'io-error': "the data folder's disk reports an I/O error",
  'read-only': 'the data folder is read-only',
  busy: 'the feedback database stayed locked by another process',
  unreachable: 'the shared database (HWR_DATABASE_URL) cannot be reached',
};

/** The fault behind a SQLite or file-system error code (SQLITE_FULL, ENOSPC, SQLITE_IOERR_WRITE...). */
export function storageFaultOf(err: unknown): { kind: StorageFaultKind; code: string } | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return undefined;
  if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT') return { kind: 'disk-full', code };
  if (code.startsWith('SQLITE_IOERR') || code === 'EIO') return { kind: 'io-error', code };
  if (code.startsWith('SQLITE_READONLY') || code === 'EROFS' || code === 'SQLITE_CANTOPEN')
    return { kind: 'read-only', code };
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return { kind: 'busy', code };
  return postgresFaultOf(code);
}

/**
 * PostgreSQL's SQLSTATEs (53100 disk_full, 25006 read_only_sql_transaction on a standby, class 08
 * connection exceptions, 57P0x shutdowns) and the socket errors of an unreachable server.
 */
function postgresFaultOf(code: string): { kind: StorageFaultKind; code: string } | undefined {
  if (code === '53100') return { kind: 'disk-full', code };
  if (code === '25006') return { kind: 'read-only', code };
  if (
    /^(08...|57P0[1-3])$/.test(code) ||
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EPIPE'].includes(code)
  )
    return { kind: 'unreachable', code };
  return undefined;
}

/** A write (or read) the storage refused; `kind` and `code` say why. */
export class StorageError extends HwrError {
  override readonly name = 'StorageError';
  readonly status: number;

  constructor(
    readonly kind: StorageFaultKind,
    /** The SQLite or file-system code underneath (SQLITE_FULL, ENOSPC, ...). */
    readonly fault: string,
    what: string,
    options?: { cause?: unknown },
  ) {
    super(
      kind === 'disk-full' ? 'storage_full' : 'unavailable',
      `${what}: ${DESCRIPTION[kind]} (${fault})`,
      options,
    );
    this.status = STORAGE_FAULT_STATUS[kind];
  }
}

/** Health of a store as /readyz reports it. */
export type StorageHealth =
  | { readonly status: 'ok' }
  | { readonly status: 'degraded'; readonly cause: string; readonly since: string };

/**
 * Tracks the last write of a store: degraded from a storage fault until the next write succeeds
 * (the store keeps trying on every request, so freeing space recovers it without a restart).
 */
export class StorageHealthTracker {
  private fault: { cause: string; since: string } | undefined;

  get health(): StorageHealth {
    return this.fault ? { status: 'degraded', ...this.fault } : { status: 'ok' };
  }

  /** Runs a write; a storage fault marks the store degraded and is rethrown as a StorageError. */
  write<T>(what: string, fn: () => T): T {
    let result: T;
    try {
      result = fn();
    } catch (err) {
      const fault = storageFaultOf(err);
      if (!fault) throw err;
      const error = new StorageError(fault.kind, fault.code, what, { cause: err });
      this.fault ??= { cause: error.message, since: new Date().toISOString() };
      throw error;
    }
    this.fault = undefined;
    return result;
  }

  /** write() for a store whose writes are asynchronous (PostgreSQL). */
  async writeAsync<T>(what: string, fn: () => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await fn();
    } catch (err) {
      // pg's "Connection terminated unexpectedly" carries no code: the server went away.
      const fault =
        storageFaultOf(err) ??
        (/Connection terminated|connect/i.test((err as Error).message ?? '') &&
        !(err as { code?: unknown }).code
          ? { kind: 'unreachable' as const, code: 'ECONNRESET' }
          : undefined);
      if (!fault) throw err;
      const error = new StorageError(fault.kind, fault.code, what, { cause: err });
      this.fault ??= { cause: error.message, since: new Date().toISOString() };
      throw error;
    }
    this.fault = undefined;
    return result;
  }
}
