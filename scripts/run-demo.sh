#!/bin/sh
# run-demo.sh: serves the demo cluster (corefile-examples/demo.Corefile +
# demo-cluster.yaml) on 127.0.0.1:1053 in the foreground and says how to query it.
B=${1:-build}
cd "$(dirname "$0")/.." || exit 1
cat <<'MSG'
holdfast demo: serving corefile-examples/demo.Corefile on 127.0.0.1:1053 (Ctrl-C stops it)
Try, from another terminal:
  dig @127.0.0.1 -p 1053 web.shop.svc.cluster.local A
  dig @127.0.0.1 -p 1053 _http._tcp.web.shop.svc.cluster.local SRV
  dig @127.0.0.1 -p 1053 -x 10.96.0.10
MSG
exec "$B/holdfast" -conf corefile-examples/demo.Corefile
