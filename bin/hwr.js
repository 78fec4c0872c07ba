#!/usr/bin/env node
// Runs the compiled CLI (npm install / npm ci build it via the `prepare` script).
import('../dist/cli/main.js').then((m) => m.main(process.argv)).catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
