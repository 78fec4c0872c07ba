import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { RegistryEvent } from './registry.js';

/** Prometheus metrics of one server; a registry of its own so several apps (tests) never collide. */
export class ServeMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'method' | 'route' | 'status_code'>;
  readonly duration: Histogram<'method' | 'route' | 'status_code'>;
  readonly predictions: Counter<'model' | 'label'>;
  readonly feedback: Counter<'model'>;
  readonly modelInfo: Gauge<'model' | 'version' | 'arch'>;
  readonly reloads: Counter<'result'>;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: 'hwr_http_requests_total',
      help: 'HTTP requests answered, by route template and status',
      labelNames: ['method', 'route', 'status_code'],
      registers,
    });
    this.duration = new Histogram({
      name: 'hwr_http_request_duration_seconds',
      help: 'Time from request received to response sent',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.predictions = new Counter({
      name: 'hwr_predictions_total',
      help: 'Predictions made, by model and predicted label',
      labelNames: ['model', 'label'],
      registers,
    });
    this.feedback = new Counter({
      name: 'hwr_feedback_total',
      help: 'Feedback samples stored, by model',
      labelNames: ['model'],
      registers,
    });
    this.modelInfo = new Gauge({
      name: 'hwr_model_info',
      help: 'Models being served (value 1), with their version',
      labelNames: ['model', 'version', 'arch'],
      registers,
      aggregator: 'max', // every cluster worker serves the same models: 1, not the worker count
    });
    this.reloads = new Counter({
      name: 'hwr_model_loads_total',
      help: 'Model (re)loads from the models folder, by result',
      labelNames: ['result'],
      registers,
    });
  }

  onRegistryEvent = (event: RegistryEvent): void => {
    if (event.kind === 'rejected') {
      this.reloads.inc({ result: 'rejected' });
      return;
    }
    const gone = event.kind === 'removed' ? event.model : event.replaced;
    if (gone) this.modelInfo.remove({ model: gone.name, version: gone.version, arch: gone.metadata.arch });
    if (event.kind === 'loaded') {
      this.reloads.inc({ result: 'loaded' });
      const m = event.model;
      this.modelInfo.set({ model: m.name, version: m.version, arch: m.metadata.arch }, 1);
    }
  };
}
