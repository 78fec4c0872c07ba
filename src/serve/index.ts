export {
  FEEDBACK_DB_FILE,
  type FeedbackRow,
  type FeedbackStats,
  FeedbackStore,
} from '../store/feedback-store.js';
export {
  buildApp,
  DEFAULT_BODY_LIMIT,
  DEFAULT_MODEL,
  defaultWebDir,
  type HwrApp,
  type RunningServer,
  type ServeOptions,
  type StartOptions,
  startServer,
} from './app.js';
export { HttpError } from './http-error.js';
export { type BatchingOptions, DEFAULT_BATCHING, NO_BATCHING, Predictor } from './predictor.js';
export { ModelRegistry, type ServedModel } from './registry.js';
