#!/bin/sh
# Writes the nginx configuration for the compose `scale` profile into /tmp (the root file system is
# read-only) from deploy/nginx/hwr.conf, then runs nginx in the foreground as this (unprivileged) user.
#   HWR_UPSTREAM          the replicas, "host:port" separated by spaces (default "replica:5000": the
#                         compose service's name, which Docker's DNS resolves to every replica at start)
#   HWR_LB_RATE_PREDICT   nginx limit_req rates per client address, e.g. 5r/s (hwr.conf's defaults)
#   HWR_LB_RATE_FEEDBACK
#   HWR_LB_RATE_ADMIN
#   HWR_LB_SHOW_UPSTREAM  1: answers carry X-Hwr-Upstream (which replica answered; for tests, since it
#                         names internal addresses)
set -eu
conf=/tmp/nginx
mkdir -p "$conf"
servers=""
for s in ${HWR_UPSTREAM:-replica:5000}; do
  servers="$servers    server $s max_fails=1 fail_timeout=2s;\n"
done
# The upstream block of hwr.conf is replaced whole; the rates only where a value is given.
awk -v servers="$servers" '
  /^upstream hwr \{/ { print; printf "%s", servers; print "    keepalive 32;"; skip = 1; next }
  skip && /^\}/ { skip = 0 }
  !skip { print }
' /etc/hwr/hwr.conf >"$conf/hwr.conf"
rate() { [ -n "$2" ] && sed -i "s|zone=$1:\([0-9]*m\) rate=[^;]*;|zone=$1:\1 rate=$2;|" "$conf/hwr.conf"; return 0; }
rate hwr_predict "${HWR_LB_RATE_PREDICT:-}"
rate hwr_feedback "${HWR_LB_RATE_FEEDBACK:-}"
rate hwr_admin "${HWR_LB_RATE_ADMIN:-}"
if [ "${HWR_LB_SHOW_UPSTREAM:-0}" = 1 ]; then
  sed -i 's|^    listen 8080;|    listen 8080;\n    add_header X-Hwr-Upstream $upstream_addr always;|' "$conf/hwr.conf"
fi
cat >"$conf/nginx.conf" <<CONF
worker_processes auto;
pid /tmp/nginx/nginx.pid;
error_log stderr warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path /tmp/nginx/body;
    proxy_temp_path /tmp/nginx/proxy;
    fastcgi_temp_path /tmp/nginx/fastcgi;
    uwsgi_temp_path /tmp/nginx/uwsgi;
    scgi_temp_path /tmp/nginx/scgi;
    include /tmp/nginx/hwr.conf;
}
CONF
nginx -t -c "$conf/nginx.conf" -e stderr
exec nginx -c "$conf/nginx.conf" -e stderr -g 'daemon off;'
