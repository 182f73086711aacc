#!/usr/bin/env python3
"""berth alone, for finding where time goes (not a comparison: that is run.sh).

    sudo python3 bench/probe.py [N [M]]

Starts a release berthd in a throwaway network namespace, runs N containers (each on network
`a`, then connected to network `b`, timing `run` and `connect` through the API), then times M
connect/disconnect cycles of one more container with all N present, and prints p50/p90 of the
first and last 20 of each and berthd's RSS. Everything is removed afterwards.

Environment: BERTH_BIN (directory of the release binaries, default target/release),
LOGLEVEL (berthd --log-level, e.g. `info,berth_engine::timing=debug` for per-phase timings of
every start in the log), STRACE=1 / STRACE_RUN=1 / PERF=1 (strace or perf record berthd during
the cycles / a few runs; output in the state directory, kept with KEEP=1), CHECKMNT=1 (mount
counts of a container and of berthd), SMAPS=1 (berthd's resident memory by mapping, threads),
BERTHD_ARGS (more berthd arguments, e.g. `--bridge-netfilter keep`).
"""
import os, sys, time, json, subprocess, socket, http.client, tarfile, io, statistics, tempfile
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("BERTH_BIN", os.path.join(ROOT, "target", "release"))
NS = f"bprobe{os.getpid()}"
D = tempfile.mkdtemp(prefix="berth-probe.")
SOCK = D + "/b.sock"
N = int(sys.argv[1]) if len(sys.argv) > 1 else 300
M = int(sys.argv[2]) if len(sys.argv) > 2 else 30
class Api:
    def __init__(s): s.c = None
    def call(s, m, p, body=None):
        if s.c is None:
            c = http.client.HTTPConnection("localhost", timeout=300)
            so = socket.socket(socket.AF_UNIX); so.connect(SOCK); c.sock = so; s.c = c
        data = json.dumps(body).encode() if body is not None else None
        t = time.perf_counter()
        s.c.request(m, "/v1.41" + p, body=data, headers={"Content-Type": "application/json"} if data else {})
        r = s.c.getresponse(); raw = r.read()
        ms = (time.perf_counter() - t) * 1000
        if r.status >= 300: raise RuntimeError(f"{m} {p} {r.status} {raw[:300]}")
        return ms, (json.loads(raw) if raw else None)
def sh(*a): return subprocess.run(a, check=True, capture_output=True, text=True).stdout
sh("ip", "netns", "add", NS)
log = open(D + "/berthd.log", "w")
env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "info"))
p = subprocess.Popen(["nsenter", "--net=/var/run/netns/" + NS, BIN + "/berthd", "--data-root", D + "/data", "--exec-root", D + "/exec", "-H", "unix://" + SOCK, "--log-level", os.environ.get("LOGLEVEL", "info")] + os.environ.get("BERTHD_ARGS", "").split(), stdout=log, stderr=log, env=env)
try:
    for _ in range(100):
        if os.path.exists(SOCK): break
        time.sleep(0.1)
    B = [BIN + "/berth", "-H", "unix://" + SOCK]
    tarp = D + "/bb.tar"
    with tarfile.open(tarp, "w") as t:
        for n in ["bin", "etc", "proc", "sys", "dev", "tmp"]:
            ti = tarfile.TarInfo(n); ti.type = tarfile.DIRTYPE; ti.mode = 0o755; t.addfile(ti)
        t.add("/bin/busybox", "bin/busybox")
        for a in ["sh", "sleep", "ip"]:
            ti = tarfile.TarInfo("bin/" + a); ti.type = tarfile.SYMTYPE; ti.linkname = "busybox"; t.addfile(ti)
    sh(*B, "import", tarp, "bb:latest")
    sh(*B, "network", "create", "--subnet", "10.88.0.0/16", "a")
    sh(*B, "network", "create", "--subnet", "10.89.0.0/16", "b")
    api = Api()
    def run(name):
        ms1, r = api.call("POST", f"/containers/create?name={name}", {"Image": "bb:latest", "Cmd": ["sleep", "1000000"], "HostConfig": {"NetworkMode": "a"}})
        ms2, _ = api.call("POST", f"/containers/{name}/start")
        return ms1 + ms2
    run("probe")
    mt = None
    if os.environ.get("MMAPTRACE"):
        # Which large allocations berthd maps while the containers are created.
        mt = subprocess.Popen(["strace", "-f", "-e", "trace=mmap,munmap,mremap", "-o", D + "/mmap.txt", "-p", str(p.pid)])
        time.sleep(1)
    runs, conns = [], []
    for i in range(N):
        runs.append(run(f"c{i}"))
        conns.append(api.call("POST", "/networks/b/connect", {"Container": f"c{i}"})[0])
    def st(x): x = sorted(x); return f"p50 {x[len(x)//2]:.2f} p90 {x[int(len(x)*.9)]:.2f}"
    if mt: mt.send_signal(2); mt.wait()
    print("run first20", st(runs[:20]), "last20", st(runs[-20:]))
    print("connect first20", st(conns[:20]), "last20", st(conns[-20:]))
    a, d = [], []
    stp = None
    if os.environ.get("STRACE_RUN"):
        stp = subprocess.Popen(["strace", "-f", "-T", "-tt", "-o", D + "/strace-run.txt", "-p", str(p.pid)]); time.sleep(1)
        for i in range(5): run(f"sr{i}")
        stp.terminate(); stp.wait(); stp = None
    if os.environ.get("PERF"):
        stp = subprocess.Popen(["perf", "record", "-F", "2000", "-g", "-o", D + "/perf.data", "-p", str(p.pid)]); time.sleep(1)
    if os.environ.get("STRACE"):
        stp = subprocess.Popen(["strace", "-f", "-T", "-tt", "-o", D + "/strace.txt", "-p", str(p.pid)]); time.sleep(1)
    for m in range(M):
        a.append(api.call("POST", "/networks/b/connect", {"Container": "probe"})[0])
        d.append(api.call("POST", "/networks/b/disconnect", {"Container": "probe"})[0])
        if os.environ.get("GAP"): time.sleep(float(os.environ["GAP"]))
    if stp: stp.send_signal(2); stp.wait()
    print(f"probe at {N}: attach", st(a), "detach", st(d))
    print("rss", [l for l in open(f"/proc/{p.pid}/status") if l.startswith("VmRSS")] if False else sh("ps", "-o", "rss=", "-p", str(p.pid)).strip())
    if os.environ.get("SMAPS"):
        # Where berthd's resident memory is: anonymous mappings grouped by kind, threads.
        kinds, cur, maps = {}, None, []
        for l in open(f"/proc/{p.pid}/smaps"):
            f = l.split()
            if "-" in f[0] and len(f[0]) > 12 and ":" not in f[0]:
                cur = f[5] if len(f) > 5 else "[anon]"
                lo, hi = (int(x, 16) for x in f[0].split("-"))
                maps.append([cur, (hi - lo) // 1024, 0, f[1]])
            elif f[0] == "Rss:":
                kinds[cur] = kinds.get(cur, 0) + int(f[1])
                maps[-1][2] = int(f[1])
        for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])[:8]:
            print(f"  rss {v / 1024:7.1f} MB  {k}")
        big = sorted((m for m in maps if m[0] == "[anon]"), key=lambda m: -m[2])[:6]
        print("  largest anonymous mappings (size KB / resident KB / perms):", [(m[1], m[2], m[3]) for m in big])
        print("  threads", len(os.listdir(f"/proc/{p.pid}/task")), "fds", len(os.listdir(f"/proc/{p.pid}/fd")))
    if os.environ.get("HOLD"): input("hold> ")
    if os.environ.get("CHECKMNT"):
        _, info = api.call("GET", "/containers/c1/json")
        pid = info["State"]["Pid"]
        print("container mounts", len(open(f"/proc/{pid}/mountinfo").read().splitlines()), "berthd mounts", len(open(f"/proc/{p.pid}/mountinfo").read().splitlines()))
finally:
    ids = sh(BIN + "/berth", "-H", "unix://" + SOCK, "ps", "-aq").split()
    if ids: subprocess.run([BIN + "/berth", "-H", "unix://" + SOCK, "rm", "-f"] + ids, capture_output=True)
    p.terminate(); p.wait()
    subprocess.run(["ip", "netns", "del", NS])
    mounts = [l.split()[4] for l in open("/proc/self/mountinfo") if l.split()[4].startswith(D + "/")]
    for m in sorted(mounts, reverse=True):
        subprocess.run(["umount", "-l", m], capture_output=True)
    if not os.environ.get("KEEP"):
        subprocess.run(["rm", "-rf", D])
    else:
        print("state kept in", D)
