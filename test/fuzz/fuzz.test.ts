// The CI slice of the API fuzzer (npm run test:fuzz runs the long one): ~500 seeded hostile requests
// through app.inject and real HTTP; no answer >= 500, every 4xx a JSON error, RSS bounded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type FuzzServer,
  formatReport,
  httpTransport,
  injectTransport,
  runFuzz,
  startFuzzServer,
} from './harness.js';

let server: FuzzServer;

beforeAll(async () => {
  server = await startFuzzServer();
}, 60_000);

afterAll(async () => {
  await server?.close();
});

describe('API fuzzing (seeded CI slice)', () => {
  it('answers 400 hostile requests through app.inject without a 5xx, each error as JSON', async () => {
    const report = await runFuzz({ numRuns: 400, seed: 7, transport: injectTransport(server) });
    console.log(formatReport('fuzz slice (inject)', report));
    expect(report.failure).toBeUndefined();
    expect(report.runs).toBe(400);
    expect(report.byClass['5xx']).toBeUndefined();
    // The generators reach both the error paths and the model.
    expect(report.byClass['2xx']).toBeGreaterThan(10);
    expect(Object.keys(report.byStatus)).toEqual(expect.arrayContaining(['200', '201', '400', '404', '415']));
    expect(report.peakRssMb).toBeLessThan(1536);
  }, 60_000);

  it('answers 100 hostile requests over real HTTP the same way', async () => {
    const report = await runFuzz({ numRuns: 100, seed: 8, transport: httpTransport(server) });
    console.log(formatReport('fuzz slice (http)', report));
    expect(report.failure).toBeUndefined();
    expect(report.runs).toBe(100);
    expect(report.byClass['5xx']).toBeUndefined();
    expect(report.peakRssMb).toBeLessThan(1536);
  }, 60_000);
});
