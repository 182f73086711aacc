#!/usr/bin/env python3
"""berth's benchmark scenarios, driven by bench/run.sh (which builds the topology, starts the
daemons and passes everything here through BENCH_* variables).

Every scenario runs berth and each reference engine alternately, sample by sample, with the
order rotated every round, so that machine noise falls on all of them alike. Results are
printed as they come (with ratios) and written to BENCHMARKS.md and bench/charts/*.svg.
Standard library only.
"""
import concurrent.futures
import datetime
import http.client
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import io
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ports  # noqa: E402  (scenario 6, bench/ports.py)

E = os.environ
MODE = E.get("BENCH_MODE", "quick")
QUICK = MODE == "quick"
ROOT = E["BENCH_ROOT"]
DIR = E["BENCH_DIR"]
NSP = E["BENCH_NS_PREFIX"]
BERTH = [E["BENCH_BERTH"], "-H", "unix://" + E["BENCH_SOCK"]]
DOCKER = [E["BENCH_DOCKER"], "-H", "unix://" + E["BENCH_DSOCK"]]
PODMAN = ["nsenter", "--net=/var/run/netns/" + E["BENCH_NS_PODMAN"], "podman"] + E["BENCH_PODMAN_OPTS"].split()
NETAVARK = E["BENCH_NETAVARK"]
AARDVARK = E["BENCH_AARDVARK"]
# The docker CLI (and podman, which reads the same variable) get an empty client config: no
# user contexts, credentials or proxies.
os.environ["DOCKER_CONFIG"] = os.path.join(DIR, "docker-cli")
os.makedirs(os.environ["DOCKER_CONFIG"], exist_ok=True)
with open(os.path.join(os.environ["DOCKER_CONFIG"], "config.json"), "w") as _f:
    _f.write("{}\n")
T0 = float(E.get("BENCH_T0", time.time()))   # run.sh's start (the build included)
T_SCEN = time.time()                         # the scenarios' start

# ---- sizes ---------------------------------------------------------------------------------
if QUICK:
    ATTACH_LEVELS = [1, 50]       # containers on the bridge when the probe attaches
    ATTACH_M = 10                 # probe connect/disconnect cycles per level
    DOCKER_MAX = int(E.get("BENCH_DOCKER_MAX", "25"))
    RUN_R = 8                     # run -d samples per engine
    NET_LEVELS = [1, 10]          # user-defined networks present
    NET_M = 8
    IPERF_ROUNDS, IPERF_T = 4, 1
    DNS_T = 2
else:
    ATTACH_LEVELS = [1, 100, 1000]
    ATTACH_M = 40
    DOCKER_MAX = int(E.get("BENCH_DOCKER_MAX", "1000"))
    RUN_R = 30
    NET_LEVELS = [1, 50, 200]
    NET_M = 25
    IPERF_ROUNDS, IPERF_T = 8, 3
    DNS_T = 10
N = ATTACH_LEVELS[-1]
# Pause before every timed connect/disconnect of the probe cycles, for every engine alike, so
# each operation meets a quiet kernel: work an engine leaves running in the background (berth
# deletes a disconnected veth after answering; the kernel spends ~20 ms on it under the
# rtnl lock) is not billed to whichever operation, of any engine, comes next.
SETTLE_S = float(E.get("BENCH_SETTLE_MS", "100")) / 1000
# Docker stops growing (its higher levels are then left out, and the report says why) when the
# machine runs short of memory (each container costs a containerd-shim) or of time.
DOCKER_MIN_AVAIL_MB = 4096
DOCKER_DEADLINE_S = 90 if QUICK else 9 * 60   # Docker's growth in scenario 1, from its start

RESULTS = {"errors": {}, "notes": [], "failed": {}}
# `bench/run.sh --only KEY,...` (BENCH_ONLY): run only these scenarios (run, networks, attach,
# throughput, ports, or half of ports: ports-dp, ports-cp); the report then goes to
# BENCHMARKS-<keys>.md, not BENCHMARKS.md.
ONLY = [k for k in E.get("BENCH_ONLY", "").split(",") if k]
SCENARIOS = ("run", "networks", "attach", "throughput", "ports", "ports-dp", "ports-cp")
if set(ONLY) - set(SCENARIOS):
    sys.exit(f"BENCH_ONLY: unknown scenario(s) {sorted(set(ONLY) - set(SCENARIOS))}; known: {', '.join(SCENARIOS)}")
REPORT = "BENCHMARKS.md" if not ONLY else f"BENCHMARKS-{'-'.join(ONLY)}.md"


def log(*a):
    if a and isinstance(a[0], str) and a[0].startswith("\n== "):
        a = (a[0] + f"  [t={time.time() - T0:.0f} s, load {os.getloadavg()[0]:.1f}]",) + a[1:]
    print(*a, flush=True)


def err(key, msg):
    lst = RESULTS["errors"].setdefault(key, [])
    if len(lst) < 5:
        lst.append(msg.strip()[:400])
    RESULTS["errors"].setdefault(key + " (count)", [0])[0] += 1


# ---- statistics ----------------------------------------------------------------------------
def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return None
    if p == 50:
        n = len(xs)
        return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2
    k = max(0, min(len(xs) - 1, -(-len(xs) * p // 100) - 1))  # nearest rank
    return xs[int(k)]


def p50(xs):
    return pct(xs, 50)


def p99(xs):
    return pct(xs, 99)


def cell(xs, n_expected):
    """p50 / p99, with n when failures left fewer samples than expected."""
    s = f"{fms(p50(xs))} / {fms(p99(xs))}"
    return s + (f" (n={len(xs)})" if xs and len(xs) < n_expected else "")


def fms(v):
    if v is None:
        return "—"
    return f"{v:.2f} ms" if v < 10 else f"{v:.1f} ms" if v < 100 else f"{v:.0f} ms"


def fx(ref, mine):
    """How many times faster `mine` is than `ref` (ref / mine)."""
    if ref is None or mine is None or mine <= 0:
        return "—"
    r = ref / mine
    return f"{r:.1f}×" if r < 100 else f"{r:.0f}×"


def rotate(lst, k):
    k %= len(lst)
    return lst[k:] + lst[:k]


# ---- process and API clients ------------------------------------------------------------------
def sh(cmd, check=True, timeout=600, input=None, env=None):
    p = subprocess.run(cmd, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, env=env)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} -> exit {p.returncode}: {p.stderr.decode(errors='replace').strip()}")
    return p.stdout.decode(errors="replace")


def timed(cmd, input=None):
    """Wall time of one process, in ms; raises on failure."""
    t = time.perf_counter()
    p = subprocess.run(cmd, input=input, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
    ms = (time.perf_counter() - t) * 1000
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[-6:])} -> exit {p.returncode}: {p.stderr.decode(errors='replace').strip()}")
    return ms


class Api:
    """The Docker Engine API over one kept-alive unix-socket connection."""

    def __init__(self, sock, version="v1.41"):
        self.sock, self.prefix, self.conn = sock, "/" + version, None

    def _connect(self):
        c = http.client.HTTPConnection("localhost", timeout=300)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(300)
        s.connect(self.sock)
        c.sock = s
        self.conn = c

    def call(self, method, path, body=None):
        """Returns (status, parsed body or text, ms)."""
        data = json.dumps(body).encode() if body is not None else None
        for attempt in (0, 1):
            if self.conn is None:
                self._connect()
            try:
                t = time.perf_counter()
                hdr = {"Content-Type": "application/json"} if data is not None else {}
                self.conn.request(method, self.prefix + path, body=data, headers=hdr)
                r = self.conn.getresponse()
                raw = r.read()
                ms = (time.perf_counter() - t) * 1000
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError,
                    http.client.CannotSendRequest):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        try:
            out = json.loads(raw) if raw else None
        except ValueError:
            out = raw.decode(errors="replace")
        return r.status, out, ms

    def t(self, method, path, body=None):
        st, out, ms = self.call(method, path, body)
        if st >= 300:
            raise RuntimeError(f"{method} {path} -> {st}: {out}")
        return ms


class Engine:
    def __init__(self, name, cli, sock=None):
        self.name, self.cli = name, cli
        self.api = Api(sock) if sock else None

    def c(self, *args):
        return timed(self.cli + list(args))

    def out(self, *args, check=True, timeout=600):
        return sh(self.cli + list(args), check=check, timeout=timeout)

    def ip_of(self, container, net):
        st, j, _ = self.api.call("GET", f"/containers/{container}/json")
        return j["NetworkSettings"]["Networks"][net]["IPAddress"]

    def pid_of(self, container):
        st, j, _ = self.api.call("GET", f"/containers/{container}/json")
        return j["State"]["Pid"]

    def net_create(self, name, subnet, options=None):
        return self.api.t("POST", "/networks/create",
                          {"Name": name, "Driver": "bridge", "CheckDuplicate": True, "Options": options or {},
                           "IPAM": {"Driver": "default", "Config": [{"Subnet": subnet}]}})

    def rm_all(self, names=None, threads=4):
        """Force-removes containers (all, or the given names), a few in parallel; untimed."""
        if names is None:
            st, lst, _ = self.api.call("GET", "/containers/json?all=1")
            names = [c["Id"] for c in lst]

        def one(n):
            try:
                a = Api(self.api.sock)
                st, out, _ = a.call("DELETE", f"/containers/{n}?force=1")
                if st >= 300 and st != 404:
                    err(f"{self.name}: rm", f"{n}: {st} {out}")
            except Exception as ex:   # e.g. a Docker rm that outlasts the API timeout
                err(f"{self.name}: rm", f"{n}: {type(ex).__name__}: {ex}")
        with concurrent.futures.ThreadPoolExecutor(threads) as ex:
            list(ex.map(one, names))


berth = Engine("berth", BERTH, E["BENCH_SOCK"])
docker = Engine("docker", DOCKER, E["BENCH_DSOCK"])
podman = Engine("podman", PODMAN)


class Netavark:
    """`netavark setup/teardown`, one process per call as Podman runs it (bench.py itself runs in
    netavark's host namespace). The JSON is the one of shared/reference/netavark-setup-bench.sh."""

    def __init__(self, name, bridge, netid, subnet, gw, dns=False):
        self.cfg = os.path.join(DIR, "nv-" + name)
        os.makedirs(self.cfg, exist_ok=True)
        self.name, self.bridge, self.netid, self.subnet, self.gw, self.dns = name, bridge, netid, subnet, gw, dns

    def conf(self, i, ip, cname=None):
        return json.dumps({
            "container_id": "%064d" % i, "container_name": cname or f"c{i}",
            "networks": {self.name: {"static_ips": [ip], "interface_name": "eth0"}},
            "network_info": {self.name: {
                "name": self.name, "id": self.netid, "driver": "bridge",
                "network_interface": self.bridge,
                "subnets": [{"subnet": self.subnet, "gateway": self.gw}],
                "ipv6_enabled": False, "internal": False, "dns_enabled": self.dns,
                "ipam_options": {"driver": "host-local"}}}}).encode()

    def ns(self, i):
        return f"{NSP}{self.name[:4]}{i}"

    def setup(self, i, ip, cname=None):
        n = self.ns(i)
        if not os.path.exists("/var/run/netns/" + n):
            sh(["ip", "netns", "add", n])
        return timed([NETAVARK, "--config", self.cfg, "--aardvark-binary", AARDVARK, "setup",
                      "/var/run/netns/" + n], input=self.conf(i, ip, cname))

    def teardown(self, i, ip, cname=None):
        return timed([NETAVARK, "--config", self.cfg, "--aardvark-binary", AARDVARK, "teardown",
                      "/var/run/netns/" + self.ns(i)], input=self.conf(i, ip, cname))


def nv_ip(i):
    return f"10.77.{i // 250}.{i % 250 + 2}"


nv = Netavark("benchnet", "nvbench0", "ec79dd0cad82083c8ac5cc23e9542e4ddea813dff60d68258d36e84f6393b63b",
              "10.77.0.0/16", "10.77.0.1")
NV_PROBE = 900000
NV_PROBE_IP = "10.77.254.2"


# ---- images -----------------------------------------------------------------------------------
def build_tar(path, extra=()):
    """A rootfs tarball: static /bin/busybox with its applet links (+ extra host files, kept at
    their paths, and their ELF libraries)."""
    bb = "/bin/busybox"
    applets = sorted(set(l.strip() for l in sh([bb, "--list"]).split() if l.strip() and "/" not in l) - {"busybox"})
    with tarfile.open(path, "w") as t:
        def d(name, mode):
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, mode, 1700000000
            t.addfile(ti)
        for name, mode in [("bin", 0o755), ("dev", 0o755), ("etc", 0o755), ("proc", 0o555),
                           ("root", 0o700), ("sys", 0o555), ("tmp", 0o1777)]:
            d(name, mode)
        t.add(bb, "bin/busybox")
        for a in applets:
            ti = tarfile.TarInfo("bin/" + a)
            ti.type, ti.linkname, ti.mode, ti.mtime = tarfile.SYMTYPE, "busybox", 0o777, 1700000000
            t.addfile(ti)
        for name, content in [("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"), ("etc/group", "root:x:0:\n")]:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(content), 0o644, 1700000000
            t.addfile(ti, io.BytesIO(content.encode()))
        files = set()
        for f in extra:
            files.add(f)
            for line in sh(["ldd", f], check=False).splitlines():
                m = re.search(r"(/\S+) \(0x", line)
                if m:
                    files.add(m.group(1))
        dirs = set()
        for f in sorted(files):
            rel = os.path.realpath(f).lstrip("/")
            target = f.lstrip("/")
            if f.startswith("/usr/bin/") or f.startswith("/bin/"):
                target = "bin/" + os.path.basename(f)
            parts = target.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                p = "/".join(parts[:i])
                if p not in dirs and p not in ("bin", "etc", "tmp"):
                    dirs.add(p)
                    d(p, 0o755)
            t.add(os.path.realpath(f), target)
    return path


# ---- scenario 2: run -d ---------------------------------------------------------------------
def scenario_run():
    log(f"\n== 2. run -d latency to a running container with its network ({RUN_R} samples each, interleaved)")
    res = {k: [] for k in ["berth", "berth-api", "docker", "docker-api", "podman"]}
    engines = ["berth", "docker", "podman", "berth-api", "docker-api"]
    body = {"Image": "bb:latest", "Cmd": ["sleep", "1000000"]}
    for r in range(RUN_R):
        for e in rotate(engines, r):
            try:
                if e == "berth":
                    res[e].append(berth.c("run", "-d", "--name", f"rd{r}", "bb:latest", "sleep", "1000000"))
                elif e == "docker":
                    res[e].append(docker.c("run", "-d", "--name", f"rd{r}", "bb:latest", "sleep", "1000000"))
                elif e == "podman" and podman_ok:
                    res[e].append(podman.c("run", "-d", "--ulimit", "nofile=1024:1024", "--ulimit",
                                           "nproc=1024:1024", "--name", f"rd{r}", "bb:latest", "sleep", "1000000"))
                elif e in ("berth-api", "docker-api"):
                    eng = berth if e == "berth-api" else docker
                    t = eng.api.t("POST", f"/containers/create?name=rda{r}", body)
                    t += eng.api.t("POST", f"/containers/rda{r}/start")
                    res[e].append(t)
            except Exception as ex:
                err(f"{e}: run -d", str(ex))
    RESULTS["run"] = res
    for k, v in res.items():
        log(f"   {k:11s} p50 {fms(p50(v)):>9s}  p99 {fms(p99(v)):>9s}  (n={len(v)})")
    b = p50(res["berth"])
    log(f"   ratios (CLI): docker/berth {fx(p50(res['docker']), b)}, podman/berth {fx(p50(res['podman']), b)};"
        f" API: docker/berth {fx(p50(res['docker-api']), p50(res['berth-api']))}")
    berth.rm_all()
    docker.rm_all()
    if podman_ok:
        try:
            podman.out("rm", "-f", "-a", "-t", "0", timeout=300)
        except Exception as ex:
            err("podman: rm", str(ex))


# ---- scenario 3: network create/rm ------------------------------------------------------------
def scenario_networks():
    log(f"\n== 3. network create/rm with {NET_LEVELS} user-defined networks present ({NET_M} cycles each)")
    res = {}
    bg = 0
    for L in NET_LEVELS:
        while bg < L - 1:
            bg += 1
            for eng in (berth, docker):
                try:
                    eng.net_create(f"bg{bg}", f"10.120.{bg}.0/24")
                except Exception as ex:
                    err(f"{eng.name}: network create (background)", str(ex))
        r = {k: [] for k in ["berth create", "berth rm", "berth-api create", "berth-api rm",
                             "docker create", "docker rm", "docker-api create", "docker-api rm"]}
        for m in range(NET_M):
            for eng in rotate([berth, docker], m):
                n = eng.name
                try:
                    r[f"{n} create"].append(eng.c("network", "create", "--subnet", "10.121.0.0/24", "probe-net"))
                    r[f"{n} rm"].append(eng.c("network", "rm", "probe-net"))
                    r[f"{n}-api create"].append(eng.net_create("probe-net", "10.121.0.0/24"))
                    r[f"{n}-api rm"].append(eng.api.t("DELETE", "/networks/probe-net"))
                except Exception as ex:
                    err(f"{n}: network create/rm", str(ex))
                    eng.api.call("DELETE", "/networks/probe-net")
        res[L] = r
        log(f"   {L:4d} networks: create p50 berth {fms(p50(r['berth create']))} docker {fms(p50(r['docker create']))}"
            f" ({fx(p50(r['docker create']), p50(r['berth create']))}); rm berth {fms(p50(r['berth rm']))}"
            f" docker {fms(p50(r['docker rm']))} ({fx(p50(r['docker rm']), p50(r['berth rm']))});"
            f" API create {fx(p50(r['docker-api create']), p50(r['berth-api create']))},"
            f" rm {fx(p50(r['docker-api rm']), p50(r['berth-api rm']))}")
    RESULTS["net"] = res
    for eng in (berth, docker):
        for i in range(1, bg + 1):
            st, out, _ = eng.api.call("DELETE", f"/networks/bg{i}")
            if st >= 300:
                err(f"{eng.name}: network rm (background)", f"bg{i}: {st} {out}")


# ---- scenario 4: memory -----------------------------------------------------------------------
def mem_available_mb():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) // 1024
    return 0


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def procs_matching(sub):
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    if sub.encode() in f.read():
                        out.append(int(p))
            except OSError:
                pass
    return out


def memory(label, running):
    bpid, dpid, cpid = (int(E[k]) for k in ("BENCH_BERTHD_PID", "BENCH_DOCKERD_PID", "BENCH_CONTAINERD_PID"))
    bd, dd, cd = rss_kb(bpid), rss_kb(dpid), rss_kb(cpid)
    # berth's shims: `berthd shim BUNDLE`, the bundle under berthd's exec root in DIR/berth/
    shims = sum(rss_kb(p) for p in procs_matching(os.path.join(DIR, "berth") + "/") if p != bpid)
    # containerd-shim-runc-v2 ... -address DIR/docker/containerd.sock
    cshims = sum(rss_kb(p) for p in procs_matching(os.path.join(DIR, "docker", "containerd.sock"))
                 if p not in (dpid, cpid))
    m = {"label": label, "running": dict(running), "berthd": bd, "berth shims": shims,
         "dockerd": dd, "containerd": cd, "containerd shims": cshims, "available": mem_available_mb()}
    RESULTS.setdefault("mem", []).append(m)
    log(f"   memory ({label}): berthd {bd / 1024:.1f} MB (+{shims / 1024:.1f} MB in {running.get('berth', 0)} shims);"
        f" dockerd {dd / 1024:.1f} MB + containerd {cd / 1024:.1f} MB (+{cshims / 1024:.1f} MB in"
        f" {running.get('docker', 0)} containerd-shims); machine MemAvailable {m['available']} MB")
    return m


# ---- scenario 1: attach/detach ----------------------------------------------------------------
def scenario_attach():
    log(f"\n== 1. attach/detach to a bridge network, at {ATTACH_LEVELS} containers on it"
        f" ({ATTACH_M} probe cycles per level; Docker up to {DOCKER_MAX} containers)")
    for eng in (berth, docker):
        eng.net_create("bench-a", "10.88.0.0/16")
        eng.net_create("bench-b", "10.89.0.0/16")
        eng.out("run", "-d", "--name", "probe", "--network", "bench-a", "bb:latest", "sleep", "1000000")
    growth = {"berth": [], "docker": [], "netavark": []}   # (k, attach ms)
    runs = {"berth": [], "docker": []}                    # (k, run -d ms)
    probes = {}
    k = 0
    dk = 0  # docker's population
    docker_cap = [DOCKER_MAX]
    last_dk = -1
    t_attach = time.time()
    for L in ATTACH_LEVELS:
        target, dtarget = L - 1, min(L - 1, docker_cap[0] - 1)
        t0 = time.time()
        while k < target or dk < dtarget:
            grow_b, grow_d = k < target, dk < dtarget
            k += grow_b
            dk += grow_d
            for e in rotate(["berth", "docker", "netavark"], k):
                try:
                    if e == "netavark" and grow_b:
                        growth[e].append((k, nv.setup(k, nv_ip(k))))
                    elif (e == "berth" and grow_b) or (e == "docker" and grow_d):
                        eng = berth if e == "berth" else docker
                        i = k if e == "berth" else dk
                        runs[e].append((i, eng.c("run", "-d", "--name", f"c{i}", "--network", "bench-a",
                                                 "bb:latest", "sleep", "1000000")))
                        growth[e].append((i, eng.api.t("POST", "/networks/bench-b/connect", {"Container": f"c{i}"})))
                except Exception as ex:
                    err(f"{e}: attach (growth)", str(ex))
            if grow_d and dk % 20 == 0 and dk < dtarget:
                why = None
                if mem_available_mb() < DOCKER_MIN_AVAIL_MB:
                    why = f"the machine's MemAvailable fell below {DOCKER_MIN_AVAIL_MB} MB"
                elif time.time() - t_attach > DOCKER_DEADLINE_S:
                    why = f"scenario 1 passed {DOCKER_DEADLINE_S / 60:g} minutes"
                if why:
                    docker_cap[0] = dk + 1
                    dtarget = dk
                    note = f"Docker stopped growing at {dk + 1} containers: {why}."
                    RESULTS["notes"].append(note)
                    log("   " + note)
            if k % 100 == 0 and grow_b:
                log(f"   ... {k} containers on berth's bridge, {dk} on Docker's ({time.time() - t0:.0f} s)")
        memory(f"{k + 1} container{'s' if k else ''}", {"berth": k + 1, "docker": dk + 1})
        # Docker is probed at its own population when it could not be grown to L (the report
        # names that population), unless it did not grow at all since the previous level.
        docker_here = L - 1 <= dk or dk > last_dk
        last_dk = dk if docker_here else last_dk
        r = {x: [] for x in ["berth connect", "berth disconnect", "berth-api connect", "berth-api disconnect",
                             "docker connect", "docker disconnect", "docker-api connect", "docker-api disconnect",
                             "netavark setup", "netavark teardown"]}
        for m in range(ATTACH_M):
            for e in rotate(["berth", "docker", "netavark"], m):
                try:
                    settle = lambda: time.sleep(SETTLE_S)
                    if e == "netavark":
                        settle()
                        r["netavark setup"].append(nv.setup(NV_PROBE, NV_PROBE_IP, "probe"))
                        settle()
                        r["netavark teardown"].append(nv.teardown(NV_PROBE, NV_PROBE_IP, "probe"))
                    elif e == "berth" or docker_here:
                        eng = berth if e == "berth" else docker
                        settle()
                        r[f"{e} connect"].append(eng.c("network", "connect", "bench-b", "probe"))
                        settle()
                        r[f"{e} disconnect"].append(eng.c("network", "disconnect", "bench-b", "probe"))
                        settle()
                        r[f"{e}-api connect"].append(eng.api.t("POST", "/networks/bench-b/connect", {"Container": "probe"}))
                        settle()
                        r[f"{e}-api disconnect"].append(eng.api.t("POST", "/networks/bench-b/disconnect", {"Container": "probe"}))
                except Exception as ex:
                    err(f"{e}: attach/detach (probe)", str(ex))
        r["docker_n"] = dk + 1 if docker_here else None
        probes[L] = r
        log(f"   {L:5d} containers: attach p50 berth CLI {fms(p50(r['berth connect']))} API {fms(p50(r['berth-api connect']))}"
            f" | netavark setup {fms(p50(r['netavark setup']))} ({fx(p50(r['netavark setup']), p50(r['berth-api connect']))} vs API,"
            f" {fx(p50(r['netavark setup']), p50(r['berth connect']))} vs CLI)"
            f" | docker CLI {fms(p50(r['docker connect']))} ({fx(p50(r['docker connect']), p50(r['berth connect']))})"
            f" API {fms(p50(r['docker-api connect']))} ({fx(p50(r['docker-api connect']), p50(r['berth-api connect']))})")
        log(f"   {'':5s}             detach p50 berth CLI {fms(p50(r['berth disconnect']))} API {fms(p50(r['berth-api disconnect']))}"
            f" | netavark teardown {fms(p50(r['netavark teardown']))} ({fx(p50(r['netavark teardown']), p50(r['berth-api disconnect']))})"
            f" | docker CLI {fms(p50(r['docker disconnect']))} ({fx(p50(r['docker disconnect']), p50(r['berth disconnect']))})"
            f" API {fms(p50(r['docker-api disconnect']))} ({fx(p50(r['docker-api disconnect']), p50(r['berth-api disconnect']))})")
    RESULTS["attach"] = {"probes": probes, "growth": growth, "runs": runs, "berth_n": k + 1, "docker_n": dk + 1,
                         "docker_cap": docker_cap[0]}
    # Scenario 1 runs last: its 1000 containers per engine (Docker's take minutes to remove) are
    # left to run.sh's cleanup, after the report is written.
    log("   the containers stay for run.sh's cleanup (this is the last scenario)")


# ---- scenario 5: throughput, DNS, published ports ----------------------------------------------
def iperf_bps(out):
    j = json.loads(out)
    if "error" in j:
        raise RuntimeError(j["error"])
    return j["end"]["sum_received"]["bits_per_second"]


def iperf_client(prefix, ip, port=5201, secs=None, affinity=None):
    """Bits/s of one iperf3 stream; `affinity` "n,m" pins the client to CPU n, the server to m."""
    secs = secs or IPERF_T
    last = None
    pin = ["-A", affinity] if affinity else []
    for _ in range(20):
        p = subprocess.run(prefix + ["iperf3", "-c", ip, "-p", str(port), "-t", str(secs), "-J"] + pin,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=secs + 60)
        try:
            return iperf_bps(p.stdout.decode())
        except Exception as ex:
            last = f"{ex}: {p.stderr.decode(errors='replace')[:200]}"
            time.sleep(0.3)
    raise RuntimeError(f"iperf3 client to {ip}:{port} failed: {last}")


def scenario_throughput():
    log(f"\n== 5. container-to-container TCP throughput on one bridge vs a raw veth pair"
        f" (iperf3, {IPERF_ROUNDS}×{IPERF_T} s each, interleaved)")
    res = {"raw veth": [], "bare bridge": [], "berth": [], "docker": [], "berth published port": [],
           "docker published port": []}
    ips, published = {}, {}
    # each engine's host address as seen from the outside namespace (run.sh's topology)
    host_addr = {"berth": "198.51.100.5", "docker": "198.51.100.9"}
    for eng in (berth, docker):
        try:
            eng.net_create("bench-p", "10.90.0.0/24")
            try:
                eng.out("run", "-d", "--name", "ips", "--network", "bench-p", "-p", "15201:5201",
                        "perf:latest", "iperf3", "-s")
                published[eng.name] = host_addr[eng.name]
            except Exception as ex:
                err(f"{eng.name}: run -p (published port)", str(ex))
                eng.api.call("DELETE", "/containers/ips?force=1")
                eng.out("run", "-d", "--name", "ips", "--network", "bench-p", "perf:latest", "iperf3", "-s")
            eng.out("run", "-d", "--name", "ipc", "--network", "bench-p", "perf:latest", "sleep", "1000000")
            ips[eng.name] = eng.ip_of("ips", "bench-p")
        except Exception as ex:
            err(f"{eng.name}: throughput setup", str(ex))
    pairs = {"raw veth": (E["BENCH_NS_VA"], E["BENCH_NS_VB"], "192.0.2.1"),
             "bare bridge": (E["BENCH_NS_BA"], E["BENCH_NS_BB"], "192.0.2.17")}
    out_ns = "--net=/var/run/netns/" + E["BENCH_NS_OUT"]
    for r in range(IPERF_ROUNDS):
        for e in rotate(list(res), r):
            try:
                if e in pairs:
                    sns, cns, sip = pairs[e]
                    srv = subprocess.Popen(["nsenter", "--net=/var/run/netns/" + sns, "iperf3", "-s", "-1"],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    time.sleep(0.3)
                    try:
                        res[e].append(iperf_client(["nsenter", "--net=/var/run/netns/" + cns], sip))
                    finally:
                        try:
                            srv.wait(timeout=10)
                        except subprocess.TimeoutExpired:
                            srv.kill()
                            srv.wait()
                elif e.endswith("published port"):
                    n = e.split()[0]
                    if n in published:
                        # from the outside namespace to the engine's host address
                        res[e].append(iperf_client(["nsenter", out_ns], published[n], 15201))
                elif e in ips:
                    eng = berth if e == "berth" else docker
                    res[e].append(iperf_client(eng.cli + ["exec", "ipc"], ips[e]))
            except Exception as ex:
                err(f"{e}: throughput", str(ex))
    RESULTS["tput"] = res
    raw = p50(res["raw veth"])
    for k, v in res.items():
        g = p50(v)
        log(f"   {k:22s} {g / 1e9 if g else 0:6.2f} Gbit/s" + (f"  ({100 * g / raw:.1f}% of raw veth)" if g and raw else "")
            + f"  rounds: {' '.join(f'{x / 1e9:.1f}' for x in v)}")

    log(f"\n== DNS queries/s from inside a container (dnsperf, {DNS_T} s each)")
    dns = {}
    qfile = os.path.join(DIR, "q.txt")
    with open(qfile, "w") as f:
        f.write("ips A\n")
    for eng, label in ((berth, "berth embedded DNS (127.0.0.11)"), (docker, "Docker embedded DNS (127.0.0.11)")):
        try:
            pid = eng.pid_of("ipc")
            # one query first: an engine without a resolver there is "not implemented", not a figure
            q = subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", "dnsperf", "-s", "127.0.0.11", "-d", qfile,
                                "-n", "1", "-t", "2"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
            if not re.search(r"Queries completed:\s+1\b", q.stdout.decode(errors="replace")) or \
                    not re.search(r"NOERROR 1\b", q.stdout.decode(errors="replace")):
                raise RuntimeError("no NOERROR answer for `ips A` from 127.0.0.11 inside the client container: "
                                   + " ".join(q.stdout.decode(errors="replace").split())[-200:])
            dns[label] = dnsperf(["nsenter", f"--net=/proc/{pid}/ns/net"], "127.0.0.11", qfile)
        except Exception as ex:
            err(f"{eng.name}: dnsperf", str(ex))
    try:
        nvd = Netavark("nvdns", "nvdns0", "f" * 64, "10.78.0.0/24", "10.78.0.1", dns=True)
        nvd.setup(1, "10.78.0.2", "dns1")
        nvd.setup(2, "10.78.0.3", "dns2")
        with open(qfile, "w") as f:
            f.write("dns1 A\n")
        time.sleep(0.5)
        dns["aardvark-dns " + AARDVARK_V] = dnsperf(["nsenter", "--net=/var/run/netns/" + nvd.ns(2)], "10.78.0.1", qfile)
        for i, ip, n in [(1, "10.78.0.2", "dns1"), (2, "10.78.0.3", "dns2")]:
            nvd.teardown(i, ip, n)
            sh(["ip", "netns", "del", nvd.ns(i)], check=False)
        pidf = os.path.join(nvd.cfg, "aardvark-dns", "aardvark.pid")
        if os.path.exists(pidf):
            try:
                os.kill(int(open(pidf).read().strip()), 15)
            except (OSError, ValueError):
                pass
    except Exception as ex:
        err("aardvark-dns: dnsperf", str(ex))
    RESULTS["dns"] = dns
    for k, v in dns.items():
        log(f"   {k:36s} {v[0]:9.0f} q/s, average latency {v[1] * 1000:.2f} ms")
    berth.rm_all(["ips", "ipc"])
    docker.rm_all(["ips", "ipc"])
    for eng in (berth, docker):
        eng.api.call("DELETE", "/networks/bench-p")


def dnsperf(prefix, server, qfile):
    p = subprocess.run(prefix + ["dnsperf", "-s", server, "-d", qfile, "-l", str(DNS_T), "-c", "8", "-T", "2",
                                 "-Q", "500000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=DNS_T + 60)
    o = p.stdout.decode(errors="replace")
    q = re.search(r"Queries per second:\s+([\d.]+)", o)
    lat = re.search(r"Average Latency \(s\):\s+([\d.]+)", o)
    lost = re.search(r"Queries lost:\s+(\d+)", o)
    if not q or not lat:
        raise RuntimeError(f"dnsperf: {o[-300:]} {p.stderr.decode(errors='replace')[-300:]}")
    return float(q.group(1)), float(lat.group(1)), int(lost.group(1)) if lost else 0


# ---- the report ---------------------------------------------------------------------------
def color(name, i):
    """The same colour for an engine in every chart: berth red, netavark green, Docker blue,
    Podman purple, raw veth grey (a second series of the same engine a darker shade)."""
    n = name.lower()
    dark = "api" in n or " rm" in n or "teardown" in n or "plain" in n
    for key, c, d in (("berth", "#e03030", "#8c1010"), ("netavark", "#2ca02c", "#1a661a"),
                      ("docker", "#3a7bd5", "#153e75"), ("podman", "#9467bd", "#5c3a80"),
                      ("raw", "#7f7f7f", "#4d4d4d")):
        if key in n:
            return d if dark else c
    return ["#ff7f0e", "#17becf", "#8c564b", "#bcbd22"][i % 4]


def svg_chart(path, title, xlabel, ylabel, series, logy=False, logx=False, bars=None):
    """A small hand-written SVG: `series` is {name: [(x, y), ...]} (lines with markers), or with
    `bars` = list of category labels, {name: [y per category]} (grouped bars)."""
    import math
    W, H, L, R, T, B = 760, 420, 80, 190, 40, 60
    pw, ph = W - L - R, H - T - B
    colors = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf", "#7f7f7f"]
    ys = [y for s in series.values() for y in (s if bars else [p[1] for p in s]) if y is not None and y > 0]
    if not ys:
        return False
    lo, hi = min(ys), max(ys)
    if logy:
        lo = 10 ** math.floor(math.log10(lo))
        hi = 10 ** math.ceil(math.log10(hi))
        fy = lambda y: T + ph - (math.log10(y) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * ph
        ticks = [m * 10 ** e for e in range(int(math.log10(lo)), int(math.log10(hi)) + 1) for m in (1, 2, 5)
                 if m * 10 ** e <= hi]
    else:
        lo = 0
        hi = hi * 1.1
        fy = lambda y: T + ph - (y - lo) / (hi - lo) * ph
        step = 10 ** math.floor(math.log10(hi / 5))
        step *= 5 if hi / step > 25 else 2 if hi / step > 10 else 1
        ticks = [i * step for i in range(int(hi / step) + 1)]
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">{title}</text>']
    for t in ticks:
        y = fy(t)
        lab = f"{t:g}"
        o.append(f'<line x1="{L}" y1="{y:.1f}" x2="{L + pw}" y2="{y:.1f}" stroke="#ddd"/>')
        o.append(f'<text x="{L - 6}" y="{y + 4:.1f}" text-anchor="end">{lab}</text>')
    o.append(f'<line x1="{L}" y1="{T}" x2="{L}" y2="{T + ph}" stroke="black"/>')
    o.append(f'<line x1="{L}" y1="{T + ph}" x2="{L + pw}" y2="{T + ph}" stroke="black"/>')
    o.append(f'<text x="{L + pw / 2}" y="{H - 15}" text-anchor="middle">{xlabel}</text>')
    o.append(f'<text x="18" y="{T + ph / 2}" text-anchor="middle" transform="rotate(-90 18 {T + ph / 2})">{ylabel}</text>')
    if bars:
        nb = len(series)
        gw = pw / len(bars)
        bw = gw * 0.8 / max(nb, 1)
        for ci, cat in enumerate(bars):
            o.append(f'<text x="{L + gw * (ci + 0.5):.1f}" y="{T + ph + 18}" text-anchor="middle">{cat}</text>')
        for si, (name, vals) in enumerate(series.items()):
            for ci, v in enumerate(vals):
                if v is None or v <= 0:
                    continue
                x = L + gw * ci + gw * 0.1 + bw * si
                y = fy(v)
                o.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bw * 0.95:.1f}" height="{T + ph - y:.1f}" fill="{color(name, si) if nb > 1 else color(bars[ci], ci)}"/>')
                lab = f"{v:.3g}"
                o.append(f'<text x="{x + bw / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" font-size="10">{lab}</text>')
    else:
        xs = [p[0] for s in series.values() for p in s]
        xlo, xhi = min(xs), max(xs)
        if logx:
            xlo = max(xlo, 1)
            fxp = lambda x: L + (math.log10(max(x, 1)) - math.log10(xlo)) / max(math.log10(xhi) - math.log10(xlo), 1e-9) * pw
            xt = [10 ** e for e in range(0, int(math.log10(xhi)) + 1)]
        else:
            xlo = 0
            fxp = lambda x: L + (x - xlo) / max(xhi - xlo, 1e-9) * pw
            step = 10 ** math.floor(math.log10(max(xhi, 1) / 5 or 1)) if xhi >= 5 else 1
            step *= 5 if xhi / step > 25 else 2 if xhi / step > 10 else 1
            xt = [i * step for i in range(int(xhi / step) + 1)]
        for t in xt:
            o.append(f'<text x="{fxp(t):.1f}" y="{T + ph + 18}" text-anchor="middle">{t:g}</text>')
        for si, (name, pts) in enumerate(series.items()):
            pts = [p for p in pts if p[1] is not None and p[1] > 0]
            if not pts:
                continue
            c = color(name, si)
            o.append(f'<polyline fill="none" stroke="{c}" stroke-width="2" points="' +
                     " ".join(f"{fxp(x):.1f},{fy(y):.1f}" for x, y in pts) + '"/>')
            if len(pts) <= 30:
                for x, y in pts:
                    o.append(f'<circle cx="{fxp(x):.1f}" cy="{fy(y):.1f}" r="3.5" fill="{c}"/>')
    for si, name in enumerate(series):
        y = T + 10 + si * 20
        if bars and len(series) == 1:
            break
        o.append(f'<rect x="{L + pw + 15}" y="{y - 9}" width="12" height="12" fill="{color(name, si)}"/>')
        o.append(f'<text x="{L + pw + 32}" y="{y + 1}">{name}</text>')
    o.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(o) + "\n")
    return True


def window_medians(pts, w):
    """Median of each consecutive window of w samples: [(centre k, median ms)]."""
    pts = sorted(pts)
    out = []
    for i in range(0, len(pts), w):
        chunk = pts[i:i + w]
        if len(chunk) >= max(2, w // 2):
            out.append((p50([c[0] for c in chunk]), p50([c[1] for c in chunk])))
    return out


def version(cmd):
    try:
        return sh(cmd, check=False, timeout=30).strip().splitlines()[0]
    except Exception:
        return "?"


def targets(tg, a, probes, levels, rr, tp):
    if levels:
        worst_api = max((p50(probes[L]["berth-api connect"]) or 1e9) for L in levels)
        worst_cli = max((p50(probes[L]["berth connect"]) or 1e9) for L in levels)
        tg.append(("attach p50 ≤ 3 ms", f"berth API connect p50 {fms(worst_api)} (worst level); CLI end-to-end {fms(worst_cli)}",
                   worst_api <= 3, "judged on the API figure (one kept-alive connection), the daemon's own cost"))
        nvx = min(((p50(probes[L]["netavark setup"]) or 0) / (p50(probes[L]["berth-api connect"]) or 1e9)) for L in levels)
        nvx_cli = min(((p50(probes[L]["netavark setup"]) or 0) / (p50(probes[L]["berth connect"]) or 1e9)) for L in levels)
        tg.append(("attach ≥ 10× faster than netavark", f"{nvx:.1f}× (berth API vs `netavark setup`); {nvx_cli:.1f}× with berth's CLI process",
                   nvx >= 10, "lowest ratio over the levels"))
        dl = [L for L in levels if probes[L]["docker-api connect"]]
        if dl:
            dx = min(p50(probes[L]["docker-api connect"]) / p50(probes[L]["berth-api connect"]) for L in dl)
            dxc = min(p50(probes[L]["docker connect"]) / p50(probes[L]["berth connect"]) for L in dl)
            dxm = min(p50(probes[L]["docker connect"]) / p50(probes[L]["berth-api connect"]) for L in dl)
            tg.append(("attach ≥ 40× faster than Docker", f"{dx:.1f}× API vs API; {dxc:.1f}× CLI vs CLI; "
                       f"{dxm:.1f}× `docker network connect` vs berth API",
                       dx >= 40, "judged API vs API (like for like)"))
        g = a.get("growth", {}).get("berth", [])
        if len(g) >= 20:
            g = sorted(g)
            first = p50([v for kk, v in g if kk <= 20])
            last = p50([v for kk, v in g[-20:]])
            kl = g[-1][0]
            ratio = last / first
            tg.append((f"{N}th attach ≤ 1.25× the 10th" if not QUICK else f"{N}th attach ≤ 1.25× the 10th (quick run: N={N})",
                       f"{ratio:.2f}× (median of attaches {g[-20][0]}–{kl}: {fms(last)}; of attaches 1–20: {fms(first)}; "
                       f"berth API, the k-th container joining the bridge)",
                       ratio <= 1.25, ""))
    if rr.get("berth"):
        b = p50(rr["berth"])
        tg.append(("`run -d` p50 ≤ 20 ms", f"{fms(b)} (CLI, to a running container with its network)", b <= 20, ""))
    if tp.get("raw veth") and tp.get("berth"):
        pc = 100 * p50(tp["berth"]) / p50(tp["raw veth"])
        pr = [100 * b / r for b, r in zip(tp["berth"], tp["raw veth"])]
        tg.append(("throughput ≥ 97% of raw veth", f"{pc:.1f}% (ratio of the medians); {p50(pr):.1f}% (median of the {len(pr)} "
                   f"per-round ratios, which range from {min(pr):.0f}% to {max(pr):.0f}%)", min(pc, p50(pr)) >= 97,
                   "container to container on one bridge, iperf3; met only if both figures are ≥ 97%. Single-stream iperf3 "
                   "is CPU-bound: on a loaded machine the rounds scatter by ±20%" + bare_bridge_note(tp)))


def more_targets(tg, probes, levels):
    """Detach, network create flatness (issue 3), DNS and memory (issue 6)."""
    if levels:
        worst = max((p50(probes[L]["berth-api disconnect"]) or 1e9) for L in levels)
        tg.append(("detach p50 ≤ 3 ms", f"berth API disconnect p50 {fms(worst)} (worst level)", worst <= 3,
                   "answers once the container is cut off; the veth's deletion finishes in the background"))
    net = RESULTS.get("net", {})
    ls = sorted(net, key=int)
    if len(ls) >= 2 and net[ls[0]].get("berth-api create") and net[ls[-1]].get("berth-api create"):
        f, l = p50(net[ls[0]]["berth-api create"]), p50(net[ls[-1]]["berth-api create"])
        tg.append((f"network create p50 flat from {ls[0]} to {ls[-1]} networks (≤ 1.25×)",
                   f"{l / f:.2f}× ({fms(f)} → {fms(l)}, API)", l / f <= 1.25, ""))
    dns = RESULTS.get("dns", {})
    bq = next((v[0] for k, v in dns.items() if k.startswith("berth")), None)
    aq = next((v[0] for k, v in dns.items() if k.startswith("aardvark")), None)
    if bq and aq:
        tg.append(("DNS ≥ 2× aardvark-dns's queries/s", f"{bq / aq:.2f}× ({bq:,.0f} vs {aq:,.0f} q/s, dnsperf)",
                   bq >= 2 * aq, ""))
    mem = {m["label"]: m for m in RESULTS.get("mem", [])}
    if "idle" in mem:
        v = mem["idle"]["berthd"] / 1024
        tg.append(("berthd RSS ≤ 15 MB idle", f"{v:.1f} MB", v <= 15, "VmRSS, image imported, no containers"))
    top = [m for m in RESULTS.get("mem", []) if m["running"].get("berth", 0) >= 1000]
    if top:
        v = top[-1]["berthd"] / 1024
        tg.append(("berthd RSS ≤ 40 MB with 1000 containers", f"{v:.1f} MB", v <= 40,
                   "VmRSS of berthd alone (each container's shim is a separate process)"))


def bare_bridge_note(tp):
    """What a bare Linux bridge (no engine) reaches in the same run: the floor of any bridge data path."""
    raw, bare, b = p50(tp.get("raw veth", [])), p50(tp.get("bare bridge", [])), p50(tp.get("berth", []))
    if not (raw and bare and b):
        return ""
    return (f". A bare Linux bridge with no engine reaches {100 * bare / raw:.1f}% of the raw veth pair in this run; "
            f"berth is {100 * b / bare:.1f}% of the bare bridge")


def unsupported(key):
    """` (error: ...)` with the first error recorded under key, for a "not yet implemented" cell."""
    e = RESULTS["errors"].get(key)
    return f" (`{e[0][:160].replace('`', chr(39)).replace('|', '/')}`)" if e else ""


def write_report(started, finished):
    charts = os.path.join(ROOT, "bench", "charts")
    os.makedirs(charts, exist_ok=True)
    R = RESULTS
    md = []
    w = md.append
    mem_total = sh(["free", "-h"]).splitlines()[1].split()[1]
    osr = dict(l.split("=", 1) for l in open("/etc/os-release").read().splitlines() if "=" in l)
    rev = sh(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], check=False).strip() or "?"
    dirty = " (+ uncommitted changes)" if sh(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no", "--", "crates", "Cargo.lock"], check=False).strip() else ""
    if E.get("BENCH_BERTH_REV"):
        rev, dirty = E["BENCH_BERTH_REV"], ""
    dver = "?"
    try:
        st, j, _ = docker.api.call("GET", "/version")
        dver = f"{j['Version']} (API {j['ApiVersion']})"
    except Exception:
        pass
    w("# berth benchmarks\n")
    w(f"Generated by `{E['BENCH_CMDLINE']}` ({MODE} run) on {started:%Y-%m-%d %H:%M} UTC, "
      f"in {(time.time() - T0) / 60:.1f} min (the whole `run.sh`, build included; the scenarios "
      f"{(time.time() - T_SCEN) / 60:.1f} min; scenario 1 runs last and its containers are removed by the cleanup "
      "after this report). Every figure below comes from this one run: "
      "berth and each reference engine were driven alternately, sample by sample (the order rotated "
      "every round), so machine noise falls on all of them alike. Compare ratios, not absolute times: "
      "on these shared machines absolute times move by ±30% from run to run.\n")
    w("| machine | |\n|---|---|")
    w(f"| CPUs (nproc) | {os.cpu_count()} |")
    w(f"| memory (free -h) | {mem_total} |")
    w(f"| kernel (uname -r) | {platform.release()} |")
    w(f"| OS | {osr.get('PRETTY_NAME', '?').strip(chr(34))} |")
    ls, le = R.get("load_start", (0, 0, 0)), R.get("load_end", (0, 0, 0))
    w(f"| load average (1/5/15 min) at start / end of the scenarios | {ls[0]:.1f} {ls[1]:.1f} {ls[2]:.1f} / "
      f"{le[0]:.1f} {le[1]:.1f} {le[2]:.1f} (other work on this shared machine; the daemons themselves are idle between calls) |")
    w(f"| berth | {rev}{dirty}, release build |")
    w(f"| netavark | {version([NETAVARK, '--version'])} (Debian), `{NETAVARK}` |")
    w(f"| aardvark-dns | {AARDVARK_V} (Debian) |")
    w(f"| Docker engine | dockerd {dver}, {version(['containerd', '--version']).split(' ', 1)[-1]}, "
      f"CLI {version([E['BENCH_DOCKER'], '--version'])} |")
    w(f"| Podman | {version(['podman', '--version'])} |")
    w(f"| tools | {version(['iperf3', '--version'])}; dnsperf {DNSPERF_V} |")
    w("")
    w("Reproduce: `sudo bench/run.sh` (full) or `sudo bench/run.sh --quick` (CI-sized, < 3 min). "
      "The harness builds its own network namespaces (one host namespace per engine, an outside one, "
      "and netavark's container namespaces), installs the reference engines from Debian if missing, "
      "and removes everything afterwards. See [bench/README.md](bench/README.md). Every sample of "
      "this run is in [bench/charts/results.json](bench/charts/results.json).\n")

    # ---- targets
    tg = []
    if ONLY:
        w(f"**Partial run**: only the scenarios `{','.join(ONLY)}` (`--only`); the other sections are empty.\n")
    a = R.get("attach", {})
    probes = a.get("probes", {})
    levels = sorted(probes)
    rr = R.get("run", {})
    tp = R.get("tput", {})
    try:
        targets(tg, a, probes, levels, rr, tp)
        more_targets(tg, probes, levels)
        ports.targets(sys.modules[__name__], tg)
    except Exception as ex:
        traceback.print_exc()
        tg.append(("(target evaluation)", f"failed: {ex}", False, "missing data"))
    w("## Targets\n")
    w("| target | measured | met? | note |\n|---|---|---|---|")
    for t, m, ok, note in tg:
        w(f"| {t} | {m} | {'✅ met' if ok else '❌ not met'} | {note} |")
    w("")
    if any(not ok for _, _, ok, _ in tg):
        w("What dominates where a target is missed (profiles of berth alone, with the commands that "
          "produced them): [bench/PROFILE.md](bench/PROFILE.md).\n")

    # ---- 1. attach
    w("## 1. Attaching a container to a bridge network\n")
    w("A container running on a first network is connected to (and disconnected from) a second "
      "one: Docker's `network connect` semantics, which is also what `netavark setup` does for "
      "Podman. At each level, the probe container is the L-th container on the bridge (the "
      "others were attached first); each engine does the same cycles alternately. berth and "
      "Docker are timed end to end through their CLI (one process per call, version "
      "negotiation included) and through the raw API on one kept-alive unix-socket connection "
      "(the daemon's own cost). netavark is timed as Podman runs it: one `netavark setup` / "
      "`teardown` process per container, same bridge, same addresses (the JSON of "
      "`netavark-setup-bench.sh`). Ratios are reference ÷ berth (how many times faster berth is). "
      f"Every timed probe operation, of every engine, starts {SETTLE_S * 1000:g} ms after the "
      "previous one ended (`BENCH_SETTLE_MS`), so each meets a quiet kernel. This matters for "
      "berth's detach: it answers once the container is cut off (veth off the bridge and down) and "
      "leaves the kernel's deletion of the veth (~20 ms of RCU grace periods, under the rtnl lock) "
      "to the background; an attach issued within those ~20 ms, by any engine, waits for it.\n")
    if probes:
        if a.get("docker_n", 0) < max(levels):
            w(f"Docker was grown to {a.get('docker_n')} containers only (each costs a containerd-shim "
              f"of ~13 MB RSS and ~0.3–1 s to start; cap `BENCH_DOCKER_MAX`={DOCKER_MAX}); at a higher "
              "level its figures are taken at that population, marked \"(at N)\".\n")
        for note in R["notes"]:
            w(note + "\n")
        w("At 1 container, netavark creates the bridge and its firewall chains on every `setup` and "
          "deletes them on every `teardown` (the network's first/last container, as with Podman), "
          "while berth and Docker keep the bridge of an existing network: that level is not like "
          "for like for netavark.\n")
        w("| containers on the bridge | operation | berth CLI p50 / p99 | berth API p50 / p99 | netavark p50 / p99 | "
          "Docker CLI p50 / p99 | Docker API p50 / p99 | netavark ÷ berth API | Docker ÷ berth (CLI) | Docker ÷ berth (API) |")
        w("|---|---|---|---|---|---|---|---|---|---|")
        for L in levels:
            r = probes[L]
            for op, nvop in (("connect", "setup"), ("disconnect", "teardown")):
                bc, ba = r[f"berth {op}"], r[f"berth-api {op}"]
                nvv, dc, da = r[f"netavark {nvop}"], r[f"docker {op}"], r[f"docker-api {op}"]
                at = f" (at {r['docker_n']})" if r.get("docker_n") and r["docker_n"] != L else ""
                w(f"| {L} | {'attach' if op == 'connect' else 'detach'} | {cell(bc, ATTACH_M)} | "
                  f"{cell(ba, ATTACH_M)} | {cell(nvv, ATTACH_M)} | "
                  f"{cell(dc, ATTACH_M)}{at} | {cell(da, ATTACH_M)}{at} | "
                  f"{fx(p50(nvv), p50(ba))} | {fx(p50(dc), p50(bc))} | {fx(p50(da), p50(ba))} |")
        w(f"\n(n = {ATTACH_M} cycles per cell, unless failures left fewer: see the errors at the end.)\n")
        series = {}
        for name, key in (("berth API", "berth"), ("netavark setup", "netavark"), ("Docker API", "docker")):
            pts = a["growth"].get(key, [])
            if pts:
                series[name] = window_medians(pts, 10 if len(pts) <= 200 else 25)
        if svg_chart(os.path.join(charts, "attach-growth.svg"), "Attach latency vs containers already on the bridge",
                     "k-th container attached to the bridge", "ms (median per window, log scale)", series, logy=True):
            w("![attach latency vs containers on the bridge](bench/charts/attach-growth.svg)\n")
            w("Every container's attach while the bridge fills up (medians of consecutive windows): "
              "berth through the API, netavark's `setup` process, Docker through the API.\n")
        cats = [str(L) for L in levels]
        ser = {}
        for name, key in (("berth CLI", "berth connect"), ("berth API", "berth-api connect"),
                          ("netavark setup", "netavark setup"), ("Docker CLI", "docker connect"),
                          ("Docker API", "docker-api connect")):
            ser[name] = [p50(probes[L][key]) for L in levels]
        if svg_chart(os.path.join(charts, "attach-p50.svg"), "Attach p50 by containers on the bridge",
                     "containers on the bridge", "ms (log scale)", ser, logy=True, bars=cats):
            w("![attach p50 per level](bench/charts/attach-p50.svg)\n")

    # ---- 2. run -d
    w("## 2. `run -d` to a running container with its network\n")
    if rr:
        w("`run -d --name X bb:latest sleep 1000000` on the default bridge network (returns once the "
          "container runs with its network set up), and the same through the API "
          "(`POST /containers/create` + `/start`). Podman: `podman run -d` with "
          "`--ulimit nofile=1024:1024 --ulimit nproc=1024:1024` (the sandbox's hard limits), on its "
          "default netavark bridge.\n")
        w("| engine | p50 | p99 | n | ÷ berth (p50) |\n|---|---|---|---|---|")
        for k, label, base in (("berth", "berth CLI", "berth"), ("docker", "docker CLI", "berth"),
                               ("podman", "podman CLI", "berth"), ("berth-api", "berth API", "berth-api"),
                               ("docker-api", "Docker API", "berth-api")):
            v = rr.get(k, [])
            w(f"| {label} | {fms(p50(v))} | {fms(p99(v))} | {len(v)} | {fx(p50(v), p50(rr[base])) if k != base else '1×'} |")
        w("")
        ser = {"p50": [p50(rr.get(k, [])) for k in ("berth", "docker", "podman", "berth-api", "docker-api")]}
        if svg_chart(os.path.join(charts, "run.svg"), "run -d latency (p50)", "", "ms (log scale)", ser, logy=True,
                     bars=["berth CLI", "docker CLI", "podman CLI", "berth API", "Docker API"]):
            w("![run -d p50](bench/charts/run.svg)\n")
        runs = a.get("runs", {})
        if runs.get("berth"):
            ser = {n: window_medians(runs.get(k, []), 10 if len(runs.get(k, [])) <= 200 else 25)
                   for n, k in (("berth CLI", "berth"), ("docker CLI", "docker"))}
            if svg_chart(os.path.join(charts, "run-growth.svg"), "run -d latency vs containers running",
                         "k-th container started", "ms (median per window, log scale)", ser, logy=True):
                w("![run -d vs containers running](bench/charts/run-growth.svg)\n")
                bg = sorted(runs["berth"])
                w(f"While filling the bridge in scenario 1, berth's `run -d` p50 was {fms(p50([v for _, v in bg[:20]]))} "
                  f"for the first 20 containers and {fms(p50([v for _, v in bg[-20:]]))} for the last 20 "
                  f"(containers {bg[-20][0]}–{bg[-1][0]})"
                  + (f"; Docker's {fms(p50([v for _, v in sorted(runs['docker'])[:20]]))} and "
                     f"{fms(p50([v for _, v in sorted(runs['docker'])[-20:]]))} (up to {sorted(runs['docker'])[-1][0]})"
                     if len(runs.get("docker", [])) >= 20 else "") + ".\n")

    # ---- 3. networks
    w("## 3. `network create` / `network rm` with networks present\n")
    nr = R.get("net", {})
    if nr:
        w("The probe network (`--subnet 10.121.0.0/24`) is created and removed while L−1 other "
          "user-defined bridge networks exist (explicit /24 subnets: Docker's default pools run "
          f"out after ~31 networks). n = {NET_M} per cell.\n")
        w("| networks present | op | berth CLI p50 / p99 | Docker CLI p50 / p99 | Docker ÷ berth (CLI) | berth API p50 / p99 | Docker API p50 / p99 | Docker ÷ berth (API) |")
        w("|---|---|---|---|---|---|---|---|")
        for L in sorted(nr):
            r = nr[L]
            for op in ("create", "rm"):
                bc, dc, ba, da = r[f"berth {op}"], r[f"docker {op}"], r[f"berth-api {op}"], r[f"docker-api {op}"]
                w(f"| {L} | {op} | {fms(p50(bc))} / {fms(p99(bc))} | {fms(p50(dc))} / {fms(p99(dc))} | {fx(p50(dc), p50(bc))} | "
                  f"{fms(p50(ba))} / {fms(p99(ba))} | {fms(p50(da))} / {fms(p99(da))} | {fx(p50(da), p50(ba))} |")
        w("")
        ser = {n: [(L, p50(nr[L][k])) for L in sorted(nr)] for n, k in
               (("berth create (API)", "berth-api create"), ("berth rm (API)", "berth-api rm"),
                ("Docker create (API)", "docker-api create"), ("Docker rm (API)", "docker-api rm"))}
        if svg_chart(os.path.join(charts, "networks.svg"), "network create / rm vs networks present",
                     "user-defined networks present", "ms p50 (log scale)", ser, logy=True):
            w("![network create/rm vs networks present](bench/charts/networks.svg)\n")

    # ---- 4. memory
    w("## 4. Daemon memory (RSS)\n")
    mem = R.get("mem", [])
    if mem:
        w("VmRSS from `/proc/PID/status`. berth: `berthd`, and its per-container shims (each "
          "container's supervisor, a separate process). Docker: `dockerd` + `containerd`, and the "
          "per-container `containerd-shim-runc-v2`. RSS double-counts shared pages across the shims.\n")
        w("| moment | berth containers | berthd | + berth shims | Docker containers | dockerd | containerd | + containerd-shims | (dockerd+containerd) ÷ berthd |")
        w("|---|---|---|---|---|---|---|---|---|")
        for m in mem:
            bd, dd = m["berthd"] / 1024, (m["dockerd"] + m["containerd"]) / 1024
            w(f"| {m['label']} | {m['running'].get('berth', 0)} | {bd:.1f} MB | {m['berth shims'] / 1024:.1f} MB | "
              f"{m['running'].get('docker', 0)} | {m['dockerd'] / 1024:.1f} MB | {m['containerd'] / 1024:.1f} MB | "
              f"{m['containerd shims'] / 1024:.1f} MB | {dd / bd if bd else 0:.1f}× |")
        w("")
        pts = [m for m in mem if m["running"]]
        ser = {"berthd": [(m["running"].get("berth", 0), m["berthd"] / 1024) for m in pts if m["running"].get("berth")],
               "dockerd + containerd": [(m["running"].get("docker", 0), (m["dockerd"] + m["containerd"]) / 1024)
                                        for m in pts if m["running"].get("docker")]}
        if svg_chart(os.path.join(charts, "memory.svg"), "Daemon RSS vs containers running", "containers running",
                     "MB", ser):
            w("![daemon memory vs containers](bench/charts/memory.svg)\n")

    # ---- 5. data plane and DNS
    if tp or R.get("dns"):
        section_5(w, charts, R, tp)
    # ---- 6. published ports
    ports.report(sys.modules[__name__], w, charts)

    # ---- problems
    write_problems(w, R)
    with open(os.path.join(ROOT, REPORT), "w") as f:
        f.write("\n".join(md) + "\n")
    # every sample of this run, for whoever wants to recompute a figure
    results = "results.json" if not ONLY else f"results-{'-'.join(ONLY)}.json"
    with open(os.path.join(charts, results), "w") as f:
        json.dump({"mode": MODE, "command": E["BENCH_CMDLINE"], "started": f"{started:%Y-%m-%dT%H:%M:%SZ}",
                   "ms": "latencies in ms, throughput in bit/s, RSS in kB", **R}, f, default=str)
    log(f"\n== wrote {os.path.join(ROOT, REPORT)} and {charts}/*.svg")
    log("\n".join(["", "targets:"] + [f"  {'MET    ' if ok else 'NOT MET'} {t}: {m}" for t, m, ok, _ in tg]))


def section_5(w, charts, R, tp):
    w("## 5. Data plane and DNS\n")
    w(f"iperf3, one TCP stream, {IPERF_T} s, median of {IPERF_ROUNDS} rounds, each round running every path back to back "
      "(order rotated). Single-stream iperf3 is CPU-bound, so on a loaded 2-core machine the rounds scatter widely "
      "(see the per-round figures in the run's output): read the per-round ratio in the targets table. Containers: "
      "a server container (`iperf3 -s`) and a client container (`exec ... iperf3 -c`) on one "
      "user-defined bridge, image = busybox + the host's iperf3 and its libraries. Raw veth: two "
      "namespaces joined by one veth pair (the limit). Bare bridge: two namespaces, each with a veth "
      "pair to one Linux bridge in a third, no engine and no firewall: what any bridge engine's data path "
      "costs (two veth hops and a bridge instead of one veth hop). Published port: from the outside namespace "
      "to the engine's host address, `-p 15201:5201`.\n")
    w("| path | Gbit/s | % of raw veth | % of bare bridge | berth ÷ reference |\n|---|---|---|---|---|")
    raw = p50(tp.get("raw veth", []))
    bare = p50(tp.get("bare bridge", []))
    bt = p50(tp.get("berth", []))
    bp = p50(tp.get("berth published port", []))
    for k, label in (("raw veth", "raw veth pair between two namespaces"),
                     ("bare bridge", "bare Linux bridge between two namespaces (no engine)"),
                     ("berth", "berth, container to container, one bridge"),
                     ("docker", "Docker 20.10, container to container, one bridge"),
                     ("berth published port", "berth, published port from outside"),
                     ("docker published port", "Docker 20.10, published port from outside")):
        g = p50(tp.get(k, []))
        if not g and k == "berth published port":
            w(f"| {label} | not yet implemented in berth{unsupported('berth: run -p (published port)')} | | | |")
            continue
        gs = f"{g / 1e9:.2f}" if g else "—"
        pc = f"{100 * g / raw:.1f}%" if g and raw else "—"
        pb = f"{100 * g / bare:.1f}%" if g and bare and k != "raw veth" else ""
        mine = bp if "published" in k else bt
        rb = f"{mine / g:.2f}" if g and mine and not k.startswith("berth") else ""
        w(f"| {label} | {gs} | {pc} | {pb} | {rb} |")
    w("")
    dns = R.get("dns", {})
    w(f"DNS: dnsperf from inside a container's network namespace, one name, {DNS_T} s, `-c 8 -T 2 -Q 500000`.\n")
    w("| server | queries/s | average latency | lost | berth ÷ reference (q/s) |\n|---|---|---|---|---|")
    bq = next((v[0] for k, v in dns.items() if k.startswith("berth")), None)
    if bq is None:
        w(f"| berth embedded DNS | not yet implemented in berth{unsupported('berth: dnsperf')} | | | |")
    for k, v in dns.items():
        w(f"| {k} | {v[0]:,.0f} | {v[1] * 1000:.2f} ms | {v[2]} | {'' if k.startswith('berth') or not bq else f'{bq / v[0]:.2f}'} |")
    w("")
    ser = {"Gbit/s": [(p50(tp.get(k, [])) or 0) / 1e9 for k in ("raw veth", "bare bridge", "berth", "docker",
                                                                   "berth published port", "docker published port")]}
    if tp and svg_chart(os.path.join(charts, "throughput.svg"), "TCP throughput (iperf3, one stream)", "", "Gbit/s", ser,
                        bars=["raw veth", "bare bridge", "berth bridge", "Docker bridge", "berth -p", "Docker -p"]):
        w("![throughput](bench/charts/throughput.svg)\n")


def write_problems(w, R):
    w("## Errors and daemon warnings during this run\n")
    errs = {k: v for k, v in R["errors"].items() if not k.endswith("(count)")}
    if not errs and not R["failed"]:
        w("None: every operation succeeded.\n")
    for k, v in R["failed"].items():
        w(f"- scenario **{k}** failed: `{v}`")
    for k, v in errs.items():
        cnt = R["errors"].get(k + " (count)", [len(v)])[0]
        w(f"- **{k}**: {cnt} failure(s), e.g.:")
        for line in v[:3]:
            w(f"  - `{line.replace('`', chr(39))}`")
    w("")
    lines = []
    try:
        for line in open(E["BENCH_BERTHD_LOG"], errors="replace"):
            if re.search(r"\b(ERROR|WARN|panicked)\b", line):
                lines.append(re.sub(r"\x1b\[[0-9;]*m", "", line.rstrip()))
    except OSError:
        pass
    w(f"berthd log: {len(lines)} ERROR/WARN line(s)" + (", by kind (ids, names, numbers and paths folded):\n" if lines else ".\n"))
    if lines:
        kinds = {}
        for line in lines:
            msg = re.sub(r"^\S+\s+", "", line)                       # the timestamp
            key = re.sub(r"/\S+", "PATH", msg)
            key = re.sub(r"\b[0-9a-f]{12,64}\b", "ID", key)
            key = re.sub(r"\b(veth|br-)[0-9a-f]+\b", r"\1X", key)
            key = re.sub(r"\b(rda?|c)\d+\b|\bprobe\b|\bip[sc]\b", "NAME", key)
            key = re.sub(r"\d+", "N", key)[:200]
            k = kinds.setdefault(key, [0, line])
            k[0] += 1
        w("| count | first occurrence |\n|---|---|")
        for key, (n, first) in sorted(kinds.items(), key=lambda kv: -kv[1][0])[:12]:
            w(f"| {n} | `{first[:400].replace('`', chr(39)).replace('|', '/')}` |")
        w("")


# ---- main ---------------------------------------------------------------------------------------
def main():
    global podman_ok, AARDVARK_V, DNSPERF_V
    started = datetime.datetime.now(datetime.timezone.utc)
    AARDVARK_V = version([AARDVARK, "--version"]).replace("aardvark-dns ", "")
    DNSPERF_V = sh(["dpkg-query", "-W", "-f", "${Version}", "dnsperf"], check=False).strip() or "?"
    log("== images: busybox rootfs (bb:latest), busybox + iperf3 (perf:latest)")
    bb = build_tar(os.path.join(DIR, "bb.tar"))
    perf = build_tar(os.path.join(DIR, "perf.tar"), ["/usr/bin/iperf3"])
    for eng in (berth, docker):
        eng.out("import", "--change", "ENV PATH=/bin", bb, "bb:latest")
        eng.out("import", "--change", "ENV PATH=/bin", perf, "perf:latest")
    podman_ok = True
    try:
        podman.out("import", "--change", "ENV PATH=/bin", bb, "bb:latest", timeout=120)
    except Exception as ex:
        podman_ok = False
        err("podman: import", str(ex))
    log("\n== 4. memory, idle (image imported, no containers)")
    memory("idle", {})
    RESULTS["load_start"] = os.getloadavg()
    # Scenario 1 (1000 containers per engine) goes last, so nothing has to wait for their removal.
    for key, name, fn in (("run", "2. run -d", scenario_run), ("networks", "3. networks", scenario_networks),
                          ("throughput", "5. throughput and DNS", scenario_throughput),
                          ("ports", "6. published ports", lambda: ports.scenario(sys.modules[__name__])),
                          ("attach", "1. attach/detach + 4. memory", scenario_attach)):
        if ONLY and key not in ONLY and not (key == "ports" and {"ports-dp", "ports-cp"} & set(ONLY)):
            continue
        try:
            fn()
        except Exception as ex:
            traceback.print_exc()
            RESULTS["failed"][name] = f"{type(ex).__name__}: {ex}"[:500]
        RESULTS.setdefault("phases", []).append((name, time.time() - T0))
    RESULTS["load_end"] = os.getloadavg()
    finished = datetime.datetime.now(datetime.timezone.utc)
    write_report(started, finished)
    if RESULTS["errors"]:
        log("\nerrors:")
        for k, v in RESULTS["errors"].items():
            if not k.endswith("(count)"):
                log(f"  {k} ({RESULTS['errors'][k + ' (count)'][0]}): {v[0]}")
    return 1 if RESULTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
