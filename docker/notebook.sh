#!/bin/sh
# The notebook image's entrypoint (run under tini): Jupyter with the tslab kernel on port 8888.
# Token: $HWR_NOTEBOOK_TOKEN, or one Jupyter makes up and prints in the log (`docker compose logs
# notebook`). Listens on all interfaces inside the container; compose publishes it on 127.0.0.1 only.
# Extra arguments go to jupyter-notebook.
set -eu
cd /app/notebooks
if [ -n "${HWR_NOTEBOOK_TOKEN:-}" ]; then
  set -- "--NotebookApp.token=$HWR_NOTEBOOK_TOKEN" "$@"
fi
exec jupyter-notebook --no-browser --ip=0.0.0.0 --port=8888 "$@"
