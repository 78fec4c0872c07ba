#!/bin/sh
# First start: create the cluster in $PGDATA (a volume) with the database and role hwr connects as,
# password from POSTGRES_PASSWORD (required), scram-sha-256 for every network client. Then run the
# server in the foreground (tini forwards `docker stop`'s SIGTERM: a fast, clean shutdown).
set -eu
: "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD (the password of the role POSTGRES_USER)}"
USER_NAME=${POSTGRES_USER:-hwr}
DB_NAME=${POSTGRES_DB:-hwr}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb --username="$USER_NAME" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  pg_ctl -w -o "-c listen_addresses='' -c unix_socket_directories=/tmp" start >/dev/null
  createdb --host=/tmp --username="$USER_NAME" --owner="$USER_NAME" "$DB_NAME"
  pg_ctl -w -m fast stop >/dev/null
  echo "hwr-postgres: created database $DB_NAME (role $USER_NAME) in $PGDATA" >&2
fi
# Sockets in /tmp: the root file system is read-only (compose's hardening), /tmp is a tmpfs.
exec postgres -c listen_addresses='*' -c unix_socket_directories=/tmp -c max_connections="${POSTGRES_MAX_CONNECTIONS:-100}"
