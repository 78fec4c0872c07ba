#!/usr/bin/env bash
# The notebooks outside Docker (docs/notebook.md):
#   npm run notebook        Jupyter on http://127.0.0.1:${HWR_NOTEBOOK_PORT:-8888}, token-protected
#   npm run test:notebook   executes notebooks/*.ipynb headless in quick mode into out/notebooks and
#                           checks their outputs (scripts/notebook-check.mjs)
# Sets up what is missing first: Debian's Jupyter (apt, as root), the tslab kernel (npm ci in
# notebooks/, kept out of hwr's own node_modules: its bundled TypeScript ships a `tsc` that would
# shadow hwr's) and notebooks/node_modules/hwr, a link to this package so cells can `import 'hwr'`.
#
# Environment: HWR_NOTEBOOK=quick|full (the notebooks' run size, default quick), HWR_MODELS_DIR (where
# notebooks save models, default out/notebook-models), HWR_NOTEBOOK_TOKEN (default: a random token,
# printed), HWR_NOTEBOOK_PORT (8888), HWR_NOTEBOOK_TIMEOUT (seconds per cell under test, 900).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NB=$ROOT/notebooks

setup() {
  if ! command -v jupyter-notebook >/dev/null || ! command -v jupyter-nbconvert >/dev/null; then
    if [ "$(id -u)" -ne 0 ]; then
      echo "notebook: Jupyter is missing; run as root: apt-get install -y --no-install-recommends jupyter-notebook jupyter-nbconvert python3-nbconvert jupyter-client" >&2
      exit 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      jupyter-notebook jupyter-nbconvert python3-nbconvert jupyter-client >/dev/null
  fi
  [ -x "$NB/node_modules/.bin/tslab" ] || npm ci --prefix "$NB" --no-audit --no-fund
  [ -f "$ROOT/dist/index.js" ] || npm run --prefix "$ROOT" build
  ln -sfn ../.. "$NB/node_modules/hwr"
  # The kernel spec (notebooks/jupyter/kernels/tslab) starts `tslab` from PATH.
  export PATH="$NB/node_modules/.bin:$PATH"
  export JUPYTER_PATH="$NB/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
  export HWR_MODELS_DIR=${HWR_MODELS_DIR:-$ROOT/out/notebook-models}
}

case "${1:-serve}" in
  serve)
    setup
    token=${HWR_NOTEBOOK_TOKEN:-$(node -e "console.log(require('crypto').randomBytes(24).toString('hex'))")}
    port=${HWR_NOTEBOOK_PORT:-8888}
    echo "notebook: http://127.0.0.1:$port/?token=$token (models saved to $HWR_MODELS_DIR)"
    cd "$NB"
    exec jupyter-notebook --no-browser --ip=127.0.0.1 --port="$port" \
      --NotebookApp.token="$token" --NotebookApp.open_browser=False
    ;;
  test)
    setup
    export HWR_NOTEBOOK=quick
    # The executed copies stay in out/notebooks (git-ignored) to be looked at.
    out=$ROOT/out/notebooks
    mkdir -p "$out"
    for name in paper letters; do
      t0=$(date +%s)
      # A loaded machine takes over a minute to start the kernel (the default wait is 60 s).
      jupyter-nbconvert --to notebook --execute --ExecutePreprocessor.timeout="${HWR_NOTEBOOK_TIMEOUT:-900}" \
        --ExecutePreprocessor.startup_timeout=300 \
        --output-dir "$out" "$NB/$name.ipynb"
      echo "notebook: $name.ipynb executed in $(($(date +%s) - t0)) s"
    done
    node "$ROOT/scripts/notebook-check.mjs" "$out/paper.ipynb" "$out/letters.ipynb"
    ;;
  *)
    echo "usage: scripts/notebook.sh [serve|test]" >&2
    exit 2
    ;;
esac
