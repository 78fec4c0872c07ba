import { ApiError } from './api.js';

/** The admin API (src/serve/admin.ts), called with the bearer token; never put in a URL. */
export interface Job {
  id: string;
  model: string;
  state: 'running' | 'promoted' | 'passed' | 'rejected' | 'failed';
  startedAt: string;
  finishedAt: string | null;
  exitCode: number | null;
  promoted: string | null;
  gate: { passed: boolean; checks: string[] } | null;
  log: string[];
}

export interface Versions {
  name: string;
  current: string | null;
  versions: {
    version: string;
    accuracy: number | null;
    createdAt: string | null;
    parentVersion: string | null;
    bad: string | null;
  }[];
  events: { at: string; action: string; version: string; from?: string | null; note?: string }[];
}

export interface AdminStats {
  total: number;
  withPrediction: number;
  correct: number;
  accuracy: number | null;
  byLabel: Record<string, { count: number; withPrediction: number; correct: number }>;
  confusions: { label: string; predicted: string; count: number }[];
}

export interface RetrainParams {
  model: string;
  epochs?: number;
  replay?: number;
  holdout?: number;
  testLimit?: number;
  promote?: boolean;
}

export class AdminClient {
  constructor(private readonly token: string) {}

  private async call<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
    let res: Response;
    try {
      res = await fetch(path, {
        method: init.method ?? 'GET',
        headers: {
          accept: 'application/json',
          authorization: `Bearer ${this.token}`,
          ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
      });
    } catch {
      throw new ApiError('the server cannot be reached', 0);
    }
    const body = await res.json().catch(() => undefined);
    if (!res.ok)
      throw new ApiError(
        typeof body?.error === 'string' ? body.error : `${res.status} ${res.statusText}`,
        res.status,
      );
    return body as T;
  }

  jobs = () => this.call<{ jobs: Job[] }>('/api/admin/jobs').then((r) => r.jobs);
  job = (id: string) => this.call<Job>(`/api/admin/jobs/${encodeURIComponent(id)}`);
  retrain = (params: RetrainParams) => this.call<Job>('/api/admin/retrain', { method: 'POST', body: params });
  versions = (model: string) => this.call<Versions>(`/api/admin/models/${encodeURIComponent(model)}`);
  promote = (model: string, version: string) =>
    this.call(`/api/admin/models/${encodeURIComponent(model)}/promote`, {
      method: 'POST',
      body: { version },
    });
  rollback = (model: string) =>
    this.call(`/api/admin/models/${encodeURIComponent(model)}/rollback`, { method: 'POST' });
  stats = (model: string) => this.call<AdminStats>(`/api/feedback/stats?model=${encodeURIComponent(model)}`);
}
