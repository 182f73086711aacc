#!/usr/bin/env bash
# berth's benchmark harness: berth beside netavark, Docker and Podman, interleaved in one run.
#
#   sudo bench/run.sh [--quick] [--only SCENARIO,...]
#
# Builds its own throwaway topology (one "host" network namespace per engine, an "outside"
# namespace wired to each, and the namespaces netavark's containers live in), installs the
# reference engines from Debian if they are missing, builds berth (release), starts berthd,
# containerd+dockerd (Debian's docker.io 20.10) each in their own namespace, and runs
# bench/bench.py, which drives every scenario for berth and the references alternately,
# prints ratios and writes BENCHMARKS.md (repo root) and bench/charts/*.svg.
# Never touches the machine's own network namespace; everything is removed on exit, also on
# failure. --quick is CI-sized (< 3 minutes); the full run takes ~35-50 minutes. --only runs
# just the named scenarios (run, networks, attach, throughput, ports; ports-dp and ports-cp are
# its two halves) and writes BENCHMARKS-<names>.md instead of BENCHMARKS.md.
#
# Environment: CARGO_TARGET_DIR (where berth is built, default target/), BENCH_DOCKER_MAX
# (cap on the number of Docker containers, default 1000 full / 25 quick; Docker also stops
# growing below 4 GiB MemAvailable or 14 min into the scenarios), BENCH_SKIP_INSTALL=1, BENCH_SKIP_BUILD=1,
# BENCH_KEEP=1 (keep the work directory, for debugging), BENCH_BERTH_REV (how the report names
# the berth build, e.g. with BENCH_SKIP_BUILD=1 and binaries built elsewhere), BENCH_PORTS_ROUNDS
# and BENCH_PORTS_SECS (scenario 6a's rounds and seconds per sample; default 12 × 3, quick 1 × 1).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
[ "$(id -u)" -eq 0 ] || { echo "run as root: sudo bench/run.sh [--quick]" >&2; exit 1; }
export PATH="${HOME:-/root}/.cargo/bin:/usr/sbin:/sbin:$PATH"

MODE=full
ONLY=
while [ $# -gt 0 ]; do
  case $1 in
    --quick) MODE=quick ;;
    --only) ONLY=${2:?--only needs a list, e.g. --only ports}; shift ;;
    --only=*) ONLY=${1#--only=} ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (usage: bench/run.sh [--quick] [--only SCENARIO,...])" >&2; exit 2 ;;
  esac
  shift
done
CMDLINE="sudo"
for v in CARGO_TARGET_DIR BENCH_DOCKER_MAX BENCH_SKIP_INSTALL BENCH_SKIP_BUILD BENCH_KEEP BENCH_BERTH_REV \
         BENCH_PORTS_ROUNDS BENCH_PORTS_SECS; do
  if [ -n "${!v:-}" ]; then CMDLINE="$CMDLINE $v=${!v@Q}"; fi
done
CMDLINE="$CMDLINE bench/run.sh"
if [ "$MODE" = quick ]; then CMDLINE="$CMDLINE --quick"; fi
if [ -n "$ONLY" ]; then CMDLINE="$CMDLINE --only $ONLY"; fi
T0=$(date +%s)

# ---- reference engines and tools (Debian packages) -------------------------------------
PKGS=(docker.io containerd runc netavark aardvark-dns podman iperf3 dnsperf wrk nftables iptables
      busybox-static iproute2 util-linux python3 curl)
if [ "${BENCH_SKIP_INSTALL:-0}" != 1 ]; then
  missing=()
  for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "== installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi
NETAVARK=/usr/lib/podman/netavark
AARDVARK=/usr/lib/podman/aardvark-dns
# The docker CLI: any (a newer one negotiates the API version down to dockerd 20.10's 1.41).
DOCKER_CLI=$(command -v docker)

# ---- berth -----------------------------------------------------------------------------
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
# name the build now: the tree may move on while the scenarios run
if [ -z "${BENCH_BERTH_REV:-}" ]; then
  BENCH_BERTH_REV="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
  if [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no -- crates Cargo.lock 2>/dev/null)" ]; then
    BENCH_BERTH_REV="$BENCH_BERTH_REV + uncommitted changes"
  fi
  if [ "${BENCH_SKIP_BUILD:-0}" = 1 ]; then BENCH_BERTH_REV="prebuilt binaries (tree at $BENCH_BERTH_REV)"
  else BENCH_BERTH_REV="$BENCH_BERTH_REV, built $(date -u +%H:%M) UTC"; fi
  export BENCH_BERTH_REV
fi
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  echo "== building berth (release, into $TARGET)"
  CARGO_TARGET_DIR=$TARGET cargo build --release -q -p berthd -p berth-cli
fi
BIN=$TARGET/release
[ -x "$BIN/berthd" ] && [ -x "$BIN/berth" ] || { echo "no berth binaries in $BIN" >&2; exit 1; }

# ---- topology ----------------------------------------------------------------------------
ID=$$
DIR=$(mktemp -d /tmp/berth-bench.XXXXXX)
NS_OUT=bb$ID-out     # the outside world (198.51.100.0/24 side of every host)
NS_B=bb$ID-berth     # berthd's host
NS_D=bb$ID-docker    # containerd + dockerd's host
NS_N=bb$ID-nv        # netavark's host (bench.py runs here so netavark is spawned as Podman does)
NS_P=bb$ID-podman    # podman's host
NS_VA=bb$ID-va; NS_VB=bb$ID-vb   # a raw veth pair between two namespaces (throughput floor)
# two namespaces on a bare Linux bridge in a third (what any bridge engine's data path costs)
NS_BA=bb$ID-ba; NS_BB=bb$ID-bb; NS_BR=bb$ID-br
ALL_NS=("$NS_OUT" "$NS_B" "$NS_D" "$NS_N" "$NS_P" "$NS_VA" "$NS_VB" "$NS_BA" "$NS_BB" "$NS_BR")
BPID=; CPID=; DPID=
SOCK=$DIR/berth.sock
DSOCK=$DIR/docker/docker.sock

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  echo "== cleaning up"
  # berth: remove containers (their shims outlive berthd), then stop berthd
  if [ -n "$BPID" ] && [ -S "$SOCK" ]; then
    "$BIN/berth" -H "unix://$SOCK" ps -aq 2>/dev/null |
      xargs -r -n 25 -P 4 "$BIN/berth" -H "unix://$SOCK" rm -f >/dev/null 2>&1
  fi
  [ -n "$BPID" ] && kill "$BPID" 2>/dev/null && wait "$BPID" 2>/dev/null
  # docker: remove containers, stop dockerd then containerd
  if [ -n "$DPID" ] && [ -S "$DSOCK" ]; then
    "$DOCKER_CLI" -H "unix://$DSOCK" ps -aq 2>/dev/null |
      timeout 180 xargs -r -n 25 -P 4 "$DOCKER_CLI" -H "unix://$DSOCK" rm -f >/dev/null 2>&1
  fi
  # dockerd 20.10 can hang in concurrent removals: end what is left of our containers ourselves
  # (the shims our containerd started, named by its socket, and each shim's container init)
  for s in $(ps -eo pid=,args= | awk -v a="-address $DIR/docker/containerd.sock" \
      '$2 ~ /containerd-shim-runc-v2$/ && index($0, a) {print $1}'); do
    for c in $(ps -o pid= --ppid "$s"); do kill -KILL "$c" 2>/dev/null; done
    kill "$s" 2>/dev/null
  done
  [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
  [ -n "$CPID" ] && kill "$CPID" 2>/dev/null && wait "$CPID" 2>/dev/null
  # podman: remove its containers (conmon + the container's processes end with them)
  if [ -d "$DIR/podman" ]; then
    timeout 120 nsenter --net=/var/run/netns/"$NS_P" podman $PODMAN_OPTS rm -f -a -t 0 >/dev/null 2>&1
  fi
  # aardvark-dns, if the DNS reference started one (it runs detached from bench.py)
  for f in "$DIR"/nv*/aardvark-dns/aardvark.pid; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
  done
  # netavark's container namespaces (named bb$ID-nv<k>): their veths go with them
  for ns in $(ip netns list | awk -v p="bb$ID-" 'index($1, p) == 1 {print $1}'); do
    ip netns del "$ns" 2>/dev/null
  done
  for ns in "${ALL_NS[@]}"; do ip netns del "$ns" 2>/dev/null; done
  awk -v d="$DIR/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "kept $DIR"; else rm -rf "$DIR" 2>/dev/null; fi
  echo "== done in $(( $(date +%s) - T0 )) s (exit $rc)"
  exit $rc
}
PODMAN_OPTS="--root $DIR/podman/root --runroot $DIR/podman/run --tmpdir $DIR/podman/tmp --network-config-dir $DIR/podman/net --cgroup-manager cgroupfs --events-backend file"
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== topology in $DIR: namespaces ${ALL_NS[*]}"
for ns in "${ALL_NS[@]}"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
i=0
for ns in "$NS_B" "$NS_D" "$NS_N" "$NS_P"; do
  i=$((i + 1))
  ip -n "$ns" link add eth0 type veth peer name "up$i" netns "$NS_OUT"
  ip -n "$ns" addr add "198.51.100.$((i * 4 + 1))/30" dev eth0
  ip -n "$NS_OUT" addr add "198.51.100.$((i * 4 + 2))/30" dev "up$i"
  ip -n "$ns" link set eth0 up; ip -n "$NS_OUT" link set "up$i" up
  ip -n "$ns" route add default via "198.51.100.$((i * 4 + 2))"
done
ip -n "$NS_VA" link add veth0 type veth peer name veth0 netns "$NS_VB"
ip -n "$NS_VA" addr add 192.0.2.1/24 dev veth0; ip -n "$NS_VB" addr add 192.0.2.2/24 dev veth0
ip -n "$NS_VA" link set veth0 up; ip -n "$NS_VB" link set veth0 up
ip -n "$NS_BR" link add br0 type bridge; ip -n "$NS_BR" link set br0 up
for x in a b; do
  ns=$NS_BA; [ $x = b ] && ns=$NS_BB
  ip -n "$NS_BR" link add "p$x" type veth peer name eth0 netns "$ns"
  ip -n "$NS_BR" link set "p$x" master br0 up
  ip -n "$ns" addr add "192.0.2.$([ $x = a ] && echo 17 || echo 18)/28" dev eth0
  ip -n "$ns" link set eth0 up
done

echo "== starting berthd in $NS_B"
nsenter --net=/var/run/netns/"$NS_B" "$BIN/berthd" --data-root "$DIR/berth/data" \
  --exec-root "$DIR/berth/exec" -H "unix://$SOCK" >"$DIR/berthd.log" 2>&1 &
BPID=$!
for _ in $(seq 200); do [ -S "$SOCK" ] && break; sleep 0.05; done
[ -S "$SOCK" ] || { echo "berthd did not start:"; cat "$DIR/berthd.log"; exit 1; }

echo "== starting containerd + dockerd (reference) in $NS_D"
mkdir -p "$DIR/docker"
nsenter --net=/var/run/netns/"$NS_D" containerd --root "$DIR/docker/containerd" \
  --state "$DIR/docker/containerd-state" --address "$DIR/docker/containerd.sock" \
  >"$DIR/containerd.log" 2>&1 &
CPID=$!
for _ in $(seq 100); do [ -S "$DIR/docker/containerd.sock" ] && break; sleep 0.05; done
nsenter --net=/var/run/netns/"$NS_D" dockerd --data-root "$DIR/docker/data" \
  --exec-root "$DIR/docker/exec" --pidfile "$DIR/docker/dockerd.pid" -H "unix://$DSOCK" \
  --containerd "$DIR/docker/containerd.sock" >"$DIR/dockerd.log" 2>&1 &
DPID=$!
for _ in $(seq 300); do "$DOCKER_CLI" -H "unix://$DSOCK" info >/dev/null 2>&1 && break; sleep 0.1; done
"$DOCKER_CLI" -H "unix://$DSOCK" info >/dev/null 2>&1 || { echo "dockerd did not start:"; tail -20 "$DIR/dockerd.log"; exit 1; }
mkdir -p "$DIR/podman/net" "$DIR/podman/tmp"

export BENCH_MODE=$MODE BENCH_ONLY=$ONLY BENCH_CMDLINE=$CMDLINE BENCH_ROOT=$ROOT BENCH_DIR=$DIR \
  BENCH_BERTH=$BIN/berth BENCH_BERTHD=$BIN/berthd BENCH_SOCK=$SOCK BENCH_BERTHD_PID=$BPID \
  BENCH_BERTHD_LOG=$DIR/berthd.log BENCH_DOCKER=$DOCKER_CLI BENCH_DSOCK=$DSOCK \
  BENCH_DOCKERD_PID=$DPID BENCH_CONTAINERD_PID=$CPID BENCH_DOCKERD_LOG=$DIR/dockerd.log \
  BENCH_NETAVARK=$NETAVARK BENCH_AARDVARK=$AARDVARK BENCH_NS_PREFIX=bb$ID- \
  BENCH_NS_OUT=$NS_OUT BENCH_NS_BERTH=$NS_B BENCH_NS_DOCKER=$NS_D BENCH_NS_NV=$NS_N \
  BENCH_NS_PODMAN=$NS_P BENCH_NS_VA=$NS_VA BENCH_NS_VB=$NS_VB \
  BENCH_NS_BA=$NS_BA BENCH_NS_BB=$NS_BB BENCH_PODMAN_OPTS=$PODMAN_OPTS \
  BENCH_T0=$T0
echo "== running the scenarios ($MODE)"
# bench.py runs inside netavark's host namespace, so `netavark setup` is a plain process spawn
# there, exactly as Podman runs it; the other engines are reached over their unix sockets.
nsenter --net=/var/run/netns/"$NS_N" python3 "$ROOT/bench/bench.py"
