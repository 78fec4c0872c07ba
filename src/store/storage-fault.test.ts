import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StorageError, StorageHealthTracker, storageFaultOf } from './storage-fault.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hwr-fault-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('storage faults', () => {
  it('classifies SQLite and file-system codes', () => {
    expect(storageFaultOf({ code: 'SQLITE_FULL' })?.kind).toBe('disk-full');
    expect(storageFaultOf({ code: 'ENOSPC' })?.kind).toBe('disk-full');
    expect(storageFaultOf({ code: 'SQLITE_IOERR_WRITE' })?.kind).toBe('io-error');
    expect(storageFaultOf({ code: 'SQLITE_READONLY_DBMOVED' })?.kind).toBe('read-only');
    expect(storageFaultOf({ code: 'EROFS' })?.kind).toBe('read-only');
    expect(storageFaultOf({ code: 'SQLITE_CONSTRAINT_CHECK' })).toBeUndefined();
    expect(storageFaultOf(new Error('plain'))).toBeUndefined();
  });

  it('a write to a read-only database is a 503 naming the cause; health recovers on the next good write', () => {
    const path = join(root, 'db.sqlite');
    const rw = new Database(path);
    rw.exec('CREATE TABLE t (x INTEGER)');
    const ro = new Database(path, { readonly: true });
    const tracker = new StorageHealthTracker();
    let thrown: unknown;
    try {
      tracker.write('row not stored', () => ro.prepare('INSERT INTO t VALUES (1)').run());
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(StorageError);
    expect((thrown as StorageError).status).toBe(503);
    expect((thrown as StorageError).message).toBe(
      'row not stored: the data folder is read-only (SQLITE_READONLY)',
    );
    expect(tracker.health).toMatchObject({ status: 'degraded', cause: expect.stringMatching(/read-only/) });
    // Not a storage fault: rethrown as is, health unchanged.
    expect(() => tracker.write('x', () => rw.prepare('INSERT INTO nope VALUES (1)').run())).toThrow(
      /no such table/,
    );
    tracker.write('row not stored', () => rw.prepare('INSERT INTO t VALUES (1)').run());
    expect(tracker.health).toEqual({ status: 'ok' });
    ro.close();
    rw.close();
  });
});
