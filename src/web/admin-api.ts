import type { FeedbackStatsReply, JobReply, RetrainBody, VersionsReply } from '../schema/wire.js';
import { ApiError } from './api.js';

// The admin API (src/serve/admin.ts), called with the bearer token; never put in a URL. Its bodies'
// types are inferred from the server's schemas (types only).
export type Job = JobReply;
export type Versions = VersionsReply;
export type AdminStats = FeedbackStatsReply;
export type RetrainParams = RetrainBody & { model: string };

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
