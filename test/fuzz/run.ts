// npm run test:fuzz: the long seeded fuzz run of the HTTP API (app.inject, then a slice over real HTTP).
// Usage: tsx test/fuzz/run.ts [--runs N] [--http N] [--seed S] [--max-rss-mb M]
// Exits 1 on any answer >= 500, any 4xx without a JSON error message, or a peak RSS over the bound.
import { parseArgs } from 'node:util';
import { formatReport, httpTransport, injectTransport, runFuzz, startFuzzServer } from './harness.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '10000' },
    http: { type: 'string', default: '1000' },
    seed: { type: 'string', default: '20240601' },
    'max-rss-mb': { type: 'string', default: '1536' },
  },
});
const runs = Number(values.runs);
const httpRuns = Number(values.http);
const seed = Number(values.seed);
const maxRssMb = Number(values['max-rss-mb']);

const server = await startFuzzServer();
let failed = false;
try {
  const progress = (label: string) => (n: number) => {
    const rss = Math.round(process.memoryUsage.rss() / 2 ** 20);
    console.log(`  ${label}: ${n} cases, RSS ${rss} MB`);
  };
  const inject = await runFuzz({
    numRuns: runs - httpRuns,
    seed,
    transport: injectTransport(server),
    progress: progress('inject'),
    every: 1000,
  });
  console.log(formatReport('app.inject', inject));
  const http = await runFuzz({
    numRuns: httpRuns,
    seed: seed + 1,
    transport: httpTransport(server),
    progress: progress('http'),
    every: 500,
  });
  console.log(formatReport('real HTTP', http));
  const total = inject.runs + http.runs;
  const fivexx = (inject.byClass['5xx'] ?? 0) + (http.byClass['5xx'] ?? 0);
  const peak = Math.max(inject.peakRssMb, http.peakRssMb);
  console.log(`total: ${total} cases, ${fivexx} answers >= 500, peak RSS ${peak} MB (bound ${maxRssMb} MB)`);
  if (inject.failure || http.failure) failed = true;
  if (total < runs) {
    console.error(`only ${total} of ${runs} cases ran`);
    failed = true;
  }
  if (peak > maxRssMb) {
    console.error(`peak RSS ${peak} MB is over the ${maxRssMb} MB bound`);
    failed = true;
  }
} finally {
  await server.close();
}
console.log(failed ? 'fuzz: FAILED' : 'fuzz: passed');
process.exit(failed ? 1 : 0);
