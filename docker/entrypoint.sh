#!/bin/sh
# Container entrypoint (run under tini as PID 1). Picks the role from the first argument and execs
# node, so signals from `docker stop` reach hwr directly.
#   serve [hwr serve options]   the web page + API on 0.0.0.0:$PORT (default role)
#   seed                        copy the shipped pretrained models into $HWR_MODELS_DIR where absent
#   retrain [options]           `hwr retrain` (exit 3 with "not available yet" in images without it)
#   anything else               passed to hwr as is, e.g. `train --arch fast --out /models/digits`
set -eu

MODELS=${HWR_MODELS_DIR:-/models}
FEEDBACK=${HWR_FEEDBACK_DIR:-/data}
PRETRAINED=${HWR_PRETRAINED_DIR:-/app/models}
HWR="node /app/bin/hwr.js"

log() { echo "hwr-entrypoint: $*" >&2; }

# True when folder $1 holds at least one model: a plain model directory (metadata.json inside) or a
# versioned store (current -> vNNNN, see src/store/store.ts).
has_models() {
  for meta in "$1"/*/metadata.json "$1"/*/current/metadata.json; do
    [ -f "$meta" ] && return 0
  done
  return 1
}

role=${1:-serve}
[ $# -gt 0 ] && shift

case "$role" in
  serve)
    dir=$MODELS
    if ! has_models "$dir"; then
      if has_models "$PRETRAINED"; then
        # A bind mount or a volume created elsewhere can be empty: serve the image's own models
        # rather than an API that answers 503 (hot reload then follows those, read-only).
        log "no model in $dir; serving the pretrained models baked into the image ($PRETRAINED)"
        dir=$PRETRAINED
      else
        # Nothing to fall back to: serve the empty folder (/readyz says 503) and load the first
        # model the trainer publishes there.
        log "no model in $dir yet; waiting for one (train: docker compose run --rm trainer train --out $dir/digits)"
      fi
    fi
    exec $HWR serve --host "${HWR_HOST:-0.0.0.0}" --models "$dir" --data-dir "$FEEDBACK" \
      --log-level "${HWR_LOG_LEVEL:-info}" "$@"
    ;;
  seed)
    if [ ! -w "$MODELS" ]; then
      log "$MODELS is not writable by uid $(id -u); mount the models volume read-write"
      exit 1
    fi
    for src in "$PRETRAINED"/*/; do
      [ -f "$src/metadata.json" ] || continue
      name=$(basename "$src")
      if [ -e "$MODELS/$name" ]; then
        log "keeping $MODELS/$name (already there)"
        continue
      fi
      # Copy beside the target under a dot name (ignored by the server), then one rename: a reader
      # sees either no model or the whole model.
      tmp="$MODELS/.$name.seed-$$"
      rm -rf "$tmp"
      cp -R -P "$src" "$tmp" # -P: a store's `current` symlink stays a (relative) symlink
      mv -T "$tmp" "$MODELS/$name"
      log "seeded $MODELS/$name from $PRETRAINED/$name"
    done
    has_models "$MODELS" || log "warning: no model in $MODELS (this image ships none); train one: train --out $MODELS/digits"
    exit 0
    ;;
  retrain)
    # Images built before `hwr retrain` existed answer with a clear message instead of a usage error.
    if ! $HWR help retrain >/dev/null 2>&1; then
      log "hwr retrain is not available yet in this image (it will retrain a model from the feedback in $FEEDBACK); nothing was changed"
      exit 3
    fi
    exec $HWR retrain "$@"
    ;;
  *)
    exec $HWR "$role" "$@"
    ;;
esac
