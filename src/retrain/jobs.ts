import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { setPriority } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type RetrainParams, retrainArgv } from '../schema/retrain.js';
import { JobReply } from '../schema/wire.js';
import type { JobLock, JobRecords } from '../store/database.js';
import { writeFileAtomic } from '../util/fs.js';
import { GATE_FAILED_EXIT } from './gate.js';
import type { RetrainResult } from './retrain.js';

/** A retrain job as the admin API reports it and the records store it (JobReply's shape). */
export type RetrainJob = JobReply;
export type JobState = RetrainJob['state'];

/** A job to start: the parameters it passes on to `hwr retrain`, and what it retrains. */
export interface RetrainRequest extends RetrainParams {
  readonly model: string;
  /** The store (or plain) model directory, e.g. models/digits. */
  readonly base: string;
  /** feedback.sqlite of the server. */
  readonly feedback: string;
}

/**
 * The argv of `hwr retrain` for a job: its request's parameters (retrainArgv, from the one schema),
 * the candidate and result in the job's folder, promoted unless the request says not to.
 */
export function jobArgv(req: RetrainRequest, dir: string): string[] {
  const { model: _model, base, feedback, ...params } = req;
  return [
    'retrain',
    '--base',
    base,
    '--feedback',
    feedback,
    '--out',
    join(dir, 'candidate'),
    '--json',
    join(dir, 'result.json'),
    ...retrainArgv({ ...params, promote: params.promote ?? true }),
  ];
}

/**
 * argv prefix that runs the hwr CLI: this same node, from dist/ or (under tsx) from the sources.
 * The child runs cli/entry by path (a separate process), so retrain does not import the CLI above it.
 */
export function defaultHwrCommand(): string[] {
  const fromSources = import.meta.url.endsWith('.ts');
  const entry = fileURLToPath(new URL(`../cli/entry.${fromSources ? 'ts' : 'js'}`, import.meta.url));
  return [process.execPath, ...(fromSources ? ['--import', 'tsx'] : []), entry];
}

const LOG_LINES = 60;
/** Job ids as `start` makes them; anything else is never looked up on disk. */
const JOB_ID = /^\d{8}T\d{6}-[0-9a-f]{6}$/;
/** How often a running job's record on disk takes in new log lines, at most. */
const SAVE_EVERY_MS = 500;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs `hwr retrain` in a child process, one at a time: training is CPU-bound and would stall the
 * server's event loop if run in-process; the child also gets a lower CPU priority.
 */
export class RetrainJobs {
  private readonly jobs = new Map<string, RetrainJob>();
  private running: { job: RetrainJob; child: ChildProcess } | undefined;
  /** Per job: the last write of its record, so writes land in order; and a pending log save. */
  private readonly saves = new Map<string, Promise<void>>();
  private readonly saveTimers = new Map<string, NodeJS.Timeout>();
  /** The shared database's lock of the running job (with `records`). */
  private held: JobLock | undefined;

  /**
   * `jobsDir` receives each job's candidate and result; the records and the one-job lock are files
   * there too, unless `records` is given: the shared database's, so that every replica of a cluster
   * sees every job and only one runs at a time.
   */
  constructor(
    private readonly jobsDir: string,
    private readonly command: readonly string[] = defaultHwrCommand(),
    private readonly records?: JobRecords,
  ) {}

  get busy(): RetrainJob | undefined {
    return this.running?.job;
  }

  /**
   * A job of this process, or else the record another process (a `--workers N` sibling, or this
   * server before a restart) left in the jobs folder.
   */
  async get(id: string): Promise<RetrainJob | undefined> {
    const mine = this.jobs.get(id);
    if (mine || !JOB_ID.test(id)) return mine;
    const read = async () => {
      if (this.records) return this.records.get(id);
      try {
        return JobReply.parse(JSON.parse(await readFile(this.recordPath(id), 'utf8')));
      } catch {
        return undefined; // no such job, or a record this version cannot read
      }
    };
    let job = await read();
    if (job?.state !== 'running' || (await this.lockedBy(id))) return job;
    // Not locked: the job ended between the two reads (its record is final before its lock goes), or
    // its server stopped and left the record "running", which nothing will ever end.
    job = await read();
    if (job?.state === 'running') {
      job.state = 'failed';
      job.log = [...job.log, 'no process is running this job any more (its server stopped)'];
    }
    return job;
  }

  /** True when the job lock names this job and its process is alive. */
  private async lockedBy(id: string): Promise<boolean> {
    if (this.records) return (await this.records.lockedBy()) === id;
    const lock = await this.readLock();
    return lock?.id === id && lock.live;
  }

  /** Every job in the jobs folder (this process's and the others'), oldest first. */
  async list(): Promise<RetrainJob[]> {
    const ids = this.records
      ? (await this.records.list()).map((j) => j.id)
      : await readdir(this.jobsDir).catch(() => [] as string[]);
    const found = await Promise.all(ids.filter((id) => JOB_ID.test(id)).map((id) => this.get(id)));
    const all = new Map<string, RetrainJob>();
    for (const job of [...found, ...this.jobs.values()]) if (job) all.set(job.id, job);
    return [...all.values()].sort(
      (a, b) => a.startedAt.localeCompare(b.startedAt) || a.id.localeCompare(b.id),
    );
  }

  private recordPath(id: string): string {
    return join(this.jobsDir, id, 'job.json');
  }

  /** Writes the job's record (atomically: readers never see half of it), in call order. */
  private save(job: RetrainJob): Promise<void> {
    const text = `${JSON.stringify(job)}\n`;
    const records = this.records;
    const write = (this.saves.get(job.id) ?? Promise.resolve())
      .then(() =>
        records
          ? records.save(JobReply.parse(JSON.parse(text)))
          : writeFileAtomic(this.recordPath(job.id), text),
      )
      .catch(() => {
        // the folder is gone (deleted by hand): this process still answers from memory
      });
    this.saves.set(job.id, write);
    return write;
  }

  /** Saves a running job's new log lines soon, at most every SAVE_EVERY_MS. */
  private saveSoon(job: RetrainJob): void {
    if (this.saveTimers.has(job.id)) return;
    const timer = setTimeout(() => {
      this.saveTimers.delete(job.id);
      void this.save(job);
    }, SAVE_EVERY_MS);
    timer.unref();
    this.saveTimers.set(job.id, timer);
  }

  /** Starts a job, or returns undefined when one is already running. */
  async start(req: RetrainRequest): Promise<RetrainJob | undefined> {
    if (this.running) return undefined;
    const id = `${new Date().toISOString().replace(/[-:.]/g, '').slice(0, 15)}-${randomBytes(3).toString('hex')}`;
    const dir = resolve(join(this.jobsDir, id));
    const job: RetrainJob = {
      id,
      model: req.model,
      state: 'running',
      startedAt: new Date().toISOString(),
      finishedAt: null,
      exitCode: null,
      promoted: null,
      gate: null,
      log: [],
      args: jobArgv(req, dir),
    };
    // Claimed before the first await: a second request in the same tick sees the job as busy.
    const slot = { job, child: undefined as unknown as ChildProcess };
    this.running = slot;
    // Other server processes (hwr serve --workers N) share the data folder: a lock file there.
    if (!(await this.lock(id))) {
      this.running = undefined;
      return undefined;
    }
    this.jobs.set(id, job);
    const [cmd, ...prefix] = this.command;
    try {
      await mkdir(dir, { recursive: true });
      await this.save(job);
      slot.child = spawn(cmd, [...prefix, ...job.args], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: process.env,
      });
      // The child's pid first: the lock stays live while the child runs, even if this server stops;
      // and this server's: it is live until the job's record is final.
      if (slot.child.pid && !this.records)
        await writeFile(this.lockPath, `${slot.child.pid} ${id} ${process.pid}\n`);
    } catch (err) {
      this.finish(job, 1, `cannot start: ${(err as Error).message}`);
      return job;
    }
    this.follow(job, slot.child, dir);
    return job;
  }

  /**
   * Lowers the child's CPU priority (where permitted), keeps its last log lines in the job's record
   * and collects its result when it ends.
   */
  private follow(job: RetrainJob, child: ChildProcess, dir: string): void {
    try {
      if (child.pid) setPriority(child.pid, 10);
    } catch {
      // not permitted: the job runs at normal priority
    }
    const append = (chunk: Buffer) => {
      const lines = chunk.toString('utf8').split('\n').filter(Boolean);
      job.log.push(...lines);
      if (job.log.length > LOG_LINES) job.log.splice(0, job.log.length - LOG_LINES);
      this.saveSoon(job);
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    child.on('error', (err) => this.finish(job, 1, `cannot start: ${err.message}`));
    child.on('close', (code, signal) => {
      void this.collect(job, dir, code ?? (signal ? 128 : 1));
    });
  }

  private get lockPath(): string {
    return join(this.jobsDir, '.running');
  }

  /** The lock file's job id, and whether any process it names is alive ("<pid> <id> [<pid>]"). */
  private async readLock(): Promise<{ id: string; live: boolean } | undefined> {
    const text = await readFile(this.lockPath, 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    const [first, id = '', ...rest] = text.trim().split(' ');
    const pids = [first, ...rest].map(Number).filter((pid) => Number.isInteger(pid) && pid > 0);
    return { id, live: pids.some(alive) };
  }

  /** Takes the cross-process job lock; a lock whose process is gone is stale and taken over. */
  private async lock(id: string): Promise<boolean> {
    await mkdir(this.jobsDir, { recursive: true });
    if (this.records) {
      this.held = await this.records.tryLock(id);
      return this.held !== undefined;
    }
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await writeFile(this.lockPath, `${process.pid} ${id}\n`, { flag: 'wx' });
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      if ((await this.readLock())?.live) return false;
      await rm(this.lockPath, { force: true });
    }
    return false;
  }

  private async collect(job: RetrainJob, dir: string, code: number): Promise<void> {
    try {
      const result = JSON.parse(await readFile(join(dir, 'result.json'), 'utf8')) as RetrainResult;
      if (result.gate) job.gate = { passed: result.gate.passed, checks: result.gate.checks };
      job.promoted = result.promoted ?? null;
    } catch {
      // no result file: the child failed before the gate; its log says why
    }
    this.finish(job, code);
  }

  private finish(job: RetrainJob, code: number, message?: string): void {
    if (job.state !== 'running') return;
    if (message) job.log.push(message);
    job.exitCode = code;
    job.finishedAt = new Date().toISOString();
    job.state =
      code === 0 ? (job.promoted ? 'promoted' : 'passed') : code === GATE_FAILED_EXIT ? 'rejected' : 'failed';
    clearTimeout(this.saveTimers.get(job.id));
    this.saveTimers.delete(job.id);
    const saved = this.save(job);
    // Busy until the lock file is gone, so a new job's lock cannot be removed by this release.
    // The record is final before the lock goes: whoever takes the lock next sees this job ended.
    if (this.running?.job === job)
      void saved
        .then(() => this.unlock())
        .finally(() => {
          if (this.running?.job === job) this.running = undefined;
        });
  }

  private async unlock(): Promise<void> {
    if (!this.records) return rm(this.lockPath, { force: true });
    const held = this.held;
    this.held = undefined;
    await held?.release();
  }

  /** Waits for the running job (if any) to finish. */
  async idle(timeoutMs = 600_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (this.running && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  }

  /** Stops the running child (server shutdown). */
  close(): void {
    this.running?.child?.kill('SIGTERM');
  }
}
