#!/usr/bin/env node
// Builds the optional OpenBLAS addon (src/engine/blas/hwr-blas.c -> build/hwr-blas.node) with the
// system C compiler and Node's own headers. Optional by design: without a compiler or headers it says
// so and exits 0, and training keeps XNNPACK's GEMM (src/engine/blas.ts). No download, no node-gyp:
// one C file that only needs node_api.h, and OpenBLAS is opened at run time.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const source = path.join(root, 'src/engine/blas/hwr-blas.c');
const out = path.join(root, 'build/hwr-blas.node');
const headerDirs = [
  process.env.npm_config_nodedir && path.join(process.env.npm_config_nodedir, 'include/node'),
  path.resolve(path.dirname(process.execPath), '../include/node'),
  '/usr/local/include/node',
  '/usr/include/node',
].filter(Boolean);
const headers = headerDirs.find((dir) => existsSync(path.join(dir, 'node_api.h')));
const skip = (why) => {
  console.log(`build:blas: skipped (${why}); training uses XNNPACK's GEMM`);
  process.exit(0);
};
if (process.platform !== 'linux') skip(`${process.platform} is not supported, only Linux`);
if (!headers) skip(`Node's C headers not found in ${headerDirs.join(', ')}`);
mkdirSync(path.dirname(out), { recursive: true });
const tmp = `${out}.tmp-${process.pid}`;
const cc = process.env.CC || 'cc';
try {
  execFileSync(
    cc,
    ['-O2', '-Wall', '-Wextra', '-shared', '-fPIC', `-I${headers}`, source, '-o', tmp, '-ldl'],
    {
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
} catch (e) {
  skip(`${cc} failed: ${e.message.split('\n')[0]}`);
}
renameSync(tmp, out);
console.log(`build:blas: ${path.relative(root, out)}`);
