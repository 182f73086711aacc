#!/usr/bin/env bash
# The seed's walkthrough ("4. Docker networking"), end to end, on a throwaway topology:
# a "host" network namespace where berthd runs and an "outside" namespace that stands for
# the LAN/internet. Nothing touches this machine's own network namespace; everything is
# removed on exit, also on failure. Run as root: sudo scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "run as root: sudo scripts/demo.sh" >&2; exit 1; }
export PATH="${HOME:-/root}/.cargo/bin:$PATH"

bash scripts/install-test-deps.sh >/dev/null
echo "== building berth (release)"
cargo build --release -q -p berthd -p berth-cli
BIN=$PWD/target/release

DIR=$(mktemp -d /tmp/berth-demo.XXXXXX)
HOST=bdemo-host-$$; OUT=bdemo-out-$$
SOCK=$DIR/berth.sock
DPID=
cleanup() {
  set +e
  if [ -S "$SOCK" ]; then
    for c in $("$BIN/berth" -H "unix://$SOCK" ps -aq 2>/dev/null); do "$BIN/berth" -H "unix://$SOCK" rm -f "$c" >/dev/null 2>&1; done
  fi
  [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
  [ -n "${SPID:-}" ] && kill "$SPID" 2>/dev/null
  ip netns del "$HOST" 2>/dev/null; ip netns del "$OUT" 2>/dev/null
  awk -v d="$DIR/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$DIR"
}
trap cleanup EXIT

echo "== topology: netns $HOST (berthd) <-> netns $OUT (the outside world, 198.51.100.2)"
ip netns add "$HOST"; ip netns add "$OUT"
ip -n "$HOST" link add eth0 type veth peer name eth0 netns "$OUT"
ip -n "$HOST" addr add 198.51.100.1/24 dev eth0; ip -n "$OUT" addr add 198.51.100.2/24 dev eth0
for ns in "$HOST" "$OUT"; do ip -n "$ns" link set lo up; ip -n "$ns" link set eth0 up; done
ip -n "$HOST" route add default via 198.51.100.2

nsenter --net=/var/run/netns/"$HOST" "$BIN/berthd" --data-root "$DIR/data" --exec-root "$DIR/exec" \
  -H "unix://$SOCK" >"$DIR/berthd.log" 2>&1 &
DPID=$!
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.05; done

b() { echo "+ berth $*" >&2; "$BIN/berth" -H "unix://$SOCK" "$@"; }
check() { if "$@"; then echo "   ok"; else echo "   FAILED: $*" >&2; exit 1; fi; }

echo "== an image: busybox as a root filesystem tarball (stands in for nginx)"
mkdir -p "$DIR/rootfs/bin" "$DIR/rootfs/etc" "$DIR/rootfs/www"
cp /bin/busybox "$DIR/rootfs/bin/"
for a in $(/bin/busybox --list); do [ -e "$DIR/rootfs/bin/$a" ] || ln -s busybox "$DIR/rootfs/bin/$a"; done
echo "hello from berth" > "$DIR/rootfs/www/index.html"
tar -C "$DIR/rootfs" -cf "$DIR/bb.tar" .
b import --change 'ENV PATH=/bin' --change 'EXPOSE 80' --change 'CMD ["httpd", "-f", "-p", "80", "-h", "/www"]' "$DIR/bb.tar" nginx

echo; echo "== Network namespaces: each container has its own"
b run -d --name ns-a --network none nginx sleep 300 >/dev/null
b exec ns-a ip -o link
check test "$(b exec ns-a cat /proc/net/dev | tail -n +3 | wc -l)" = 1

echo; echo "== Bridge network (the default): a unique address, NAT to the outside"
nsenter --net=/var/run/netns/"$OUT" /bin/busybox httpd -f -p 8080 -h "$DIR/rootfs/www" &
SPID=$!
b network ls
b run --rm nginx sh -c 'ip -o -4 addr show eth0; ip route'
check b run --rm nginx wget -q -O - http://198.51.100.2:8080/

echo; echo "== docker network create my-bridge-network; docker run --name my-container --network my-bridge-network -d nginx"
b network create my-bridge-network
b run --name my-container --network my-bridge-network -d nginx
IP=$(b inspect -f '{{.NetworkSettings.Networks.my-bridge-network.IPAddress}}' my-container 2>/dev/null || true)
IP=${IP:-$(b inspect my-container | sed -n 's/.*"IPAddress": "\([0-9.]*\)".*/\1/p' | head -1)}
echo "   my-container has $IP"
b network inspect -f '{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}' my-bridge-network
check b run --rm --network my-bridge-network nginx wget -q -O - "http://$IP/"

echo; echo "== Host network: docker run --name my-container-host --network host -d nginx"
b run --name my-container-host --network host -d nginx httpd -f -p 8081 -h /www
sleep 0.3
check nsenter --net=/var/run/netns/"$HOST" /bin/busybox wget -q -O - http://127.0.0.1:8081/

echo; echo "== User-defined bridge: containers on it talk to each other"
b network create my-custom-bridge
b run --name container-1 --network my-custom-bridge -d nginx
b run --name container-2 --network my-custom-bridge -d nginx
IP1=$(b inspect container-1 | sed -n 's/.*"IPAddress": "\([0-9.]*\)".*/\1/p' | head -1)
echo "   container-2 reaches container-1 by name (embedded DNS at 127.0.0.11):"
check b exec container-2 wget -q -O - "http://container-1/"
b exec container-2 nslookup container-1 | tail -2
echo "   and a container on another network cannot reach them:"
check sh -c "! $BIN/berth -H unix://$SOCK run --rm --network my-bridge-network nginx wget -q -T 2 -O - http://$IP1/ 2>/dev/null"

echo; echo "== Published ports: docker run -p 8080:80 (nftables DNAT, no proxy process)"
b run -d --name web --network my-custom-bridge -p 8080:80 nginx
b port web
check nsenter --net=/var/run/netns/"$OUT" timeout 3 /bin/busybox wget -q -O - http://198.51.100.1:8080/

echo; echo "== Legacy links: docker run --name container-2b --link container-1b -d nginx"
b run --name container-1b -d nginx
b run --name container-2b --link container-1b -d nginx
b exec container-2b sh -c 'grep container-1b /etc/hosts; env | grep ^CONTAINER_1B_PORT='
check b exec container-2b wget -q -O - http://container-1b/

echo; echo "== Clean up: remove containers and networks"
for c in $(b ps -aq); do b rm -f "$c" >/dev/null; done
b network rm my-bridge-network my-custom-bridge
b network ls
echo; echo "demo finished: every step above worked"
