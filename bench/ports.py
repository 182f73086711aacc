"""Scenario 6 of bench/bench.py: published ports (issue 5), berth beside Docker.

6a. Data plane through a published port: new TCP connections per second (wrk, one request per
    connection, `Connection: close`, to busybox httpd in a container) and TCP throughput
    (iperf3, one stream, to `iperf3 -s` in a container), from the outside namespace to the
    engine's host address and from the host namespace's own loopback (127.0.0.1:PORT), each as
    a share of the same client talking to the container's address directly (routed through
    the host from outside: berth's network is `nat-unprotected` for that, Docker 20.10 lets
    routed connections to published container ports in anyway). Every round runs each
    (engine, measure)'s four paths back to back, the order rotated.
6b. Control plane: 100 containers × 10 published ports (`run -d -p H0-H9:8000-8009`), timed one
    by one; and at 0, 500 and 1000 ports already published, `run -d -p 30000-30099:1-100`
    (100 ports) beside a plain `run -d`, to show whether starting a container with ports stays
    flat as published ports pile up.

Called by bench.py with itself as `b` (its engines, statistics, RESULTS and report writer).
"""
import concurrent.futures
import json
import os
import re
import subprocess
import time

E = os.environ
QUICK = E.get("BENCH_MODE", "quick") == "quick"
if QUICK:
    DP_ROUNDS, DP_T = 1, 1           # rounds of every (engine, path), seconds per sample
    GROW_LEVELS = [0, 10]            # containers with 10 published ports before each probe level
    PROBE_M = 2                      # `run -d` samples per engine and kind at each level
    DOCKER_DEADLINE_S = 75           # Docker stops growing this long into scenario 6b
else:
    DP_ROUNDS, DP_T = 12, 3
    GROW_LEVELS = [0, 50, 100]
    PROBE_M = 8
    DOCKER_DEADLINE_S = 5 * 60
# On a loaded machine the data-plane samples scatter widely: more rounds narrow the medians.
DP_ROUNDS = int(E.get("BENCH_PORTS_ROUNDS", DP_ROUNDS))
DP_T = int(E.get("BENCH_PORTS_SECS", DP_T))
WRK_CONNS = 8
# direct: host namespace → container address; routed: outside namespace → container address
# (routed via the host); outside: outside namespace → host address, published port; loopback:
# host namespace → 127.0.0.1, published port. A published path is judged against the same
# client's direct path, so only what publishing adds is measured (not the outside client's
# extra veth hop and forward, which a direct connection from there pays too).
PATHS = ("direct", "routed", "outside", "loopback")
BASE = {"routed": "direct", "outside": "routed", "loopback": "direct"}
TARGET = 0.95                        # published ÷ direct
FLAT = 1.25                          # start time with 100 ports: last level ÷ first level
WEB_PORT, IPERF_PORT = 18080, 15202
# iperf3's client on CPU 0, its server on CPU 1, on every path: where the scheduler puts the
# two ends (same core or not, next to the softirq work or not) moved single samples by ±30%.
PIN = E.get("BENCH_PORTS_PIN", "0,1") if (os.cpu_count() or 1) > 1 else None
PIN_TXT = f", client and server pinned to CPUs {PIN} (`iperf3 -A {PIN}`)" if PIN else ""
WRK_PIN_TXT = (f"; wrk pinned to CPU {PIN.split(',')[0]}, httpd (and the children it forks) to CPU "
               f"{PIN.split(',')[1]}" if PIN else "")
PROBE_PORTS = "30000-30099:1-100"


def host_ns(name):
    return "--net=/var/run/netns/" + E["BENCH_NS_BERTH" if name == "berth" else "BENCH_NS_DOCKER"]


def scenario(b):
    only = set(b.ONLY)
    if not only or {"ports", "ports-dp"} & only:
        dataplane(b)
    if not only or {"ports", "ports-cp"} & only:
        control_plane(b)


# ---- 6a. data plane ---------------------------------------------------------------------------
def wrk(prefix, url, secs):
    """New connections per second: wrk, one request per connection (on the client CPU of PIN)."""
    pin = ["taskset", "-c", PIN.split(",")[0]] if PIN else []
    p = subprocess.run(prefix + pin + ["wrk", "-t", "1", "-c", str(WRK_CONNS), "-d", f"{secs}s", "-H", "Connection: close",
                                 url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=secs + 60)
    o = p.stdout.decode(errors="replace")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", o)
    done = re.search(r"(\d+) requests in", o)
    if p.returncode != 0 or not rate or not done or int(done.group(1)) == 0:
        raise RuntimeError(f"wrk {url}: exit {p.returncode}: {' '.join((o + p.stderr.decode(errors='replace')).split())[-300:]}")
    bad = sum(int(x) for x in re.findall(r"(?:connect|timeout) (\d+)", o))
    bad += int((re.search(r"Non-2xx or 3xx responses: (\d+)", o) or [0, 0])[1])
    if bad > 0.01 * int(done.group(1)):
        raise RuntimeError(f"wrk {url}: {bad} failed of {done.group(1)}: {' '.join(o.split())[-300:]}")
    return float(rate.group(1))


SUBNET = {"berth": "10.91.0.0/24", "docker": "10.92.0.0/24"}


def dp_setup(b, eng, host_addr):
    """Starts the web and iperf3 servers with their published ports, routes the network from
    the outside namespace; returns the URLs/targets per path."""
    opts = {"com.docker.network.bridge.gateway_mode_ipv4": "nat-unprotected"} if eng.name == "berth" else {}
    eng.net_create("bench-pp", SUBNET[eng.name], opts)
    eng.out("run", "-d", "--name", "ppweb", "--network", "bench-pp", "-p", f"{WEB_PORT}:80",
            "bb:latest", "httpd", "-f", "-p", "80", "-h", "/etc")
    eng.out("run", "-d", "--name", "ppiperf", "--network", "bench-pp", "-p", f"{IPERF_PORT}:5201",
            "perf:latest", "iperf3", "-s")
    web, ipf = eng.ip_of("ppweb", "bench-pp"), eng.ip_of("ppiperf", "bench-pp")
    # No TIME_WAIT in the web server's namespace: it closes first, so each connection would
    # leave a TIME_WAIT socket for 60 s, and once wrk's source ports wrap around (28k ports,
    # ~8 s at 4k/s) new SYNs hit them and wait for retransmits. The direct and 127.0.0.1 paths
    # share one source address (the host's on the bridge, masqueraded), the outside path has
    # its own: without this, whichever path ran last decided the others' rates.
    b.sh(["nsenter", f"--net=/proc/{eng.pid_of('ppweb')}/ns/net", "sysctl", "-qw", "net.ipv4.tcp_max_tw_buckets=0"])
    # httpd forks a child per connection: where the scheduler put it (beside wrk or not) moved
    # single samples by ±20%. The server (and the children it forks) on the server CPU of PIN.
    if PIN:
        os.sched_setaffinity(eng.pid_of("ppweb"), {int(PIN.split(",")[1])})
    hn, out = ["nsenter", host_ns(eng.name)], ["nsenter", "--net=/var/run/netns/" + E["BENCH_NS_OUT"]]
    b.sh(out + ["ip", "route", "replace", SUBNET[eng.name], "via", host_addr])
    return {
        "direct": (hn, f"http://{web}:80/passwd", ipf, 5201),
        "routed": (out, f"http://{web}:80/passwd", ipf, 5201),
        "outside": (out, f"http://{host_addr}:{WEB_PORT}/passwd", host_addr, IPERF_PORT),
        "loopback": (hn, f"http://127.0.0.1:{WEB_PORT}/passwd", "127.0.0.1", IPERF_PORT),
    }


def wait_web(prefix, url):
    """The server answers through this path (a few tries while it starts), else raises."""
    last = None
    for _ in range(30):
        p = subprocess.run(prefix + ["timeout", "3", "busybox", "wget", "-q", "-O", "/dev/null", url],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if p.returncode == 0:
            return
        last = p.stderr.decode(errors="replace").strip()
        time.sleep(0.2)
    raise RuntimeError(f"no answer from {url}: {last}")


def dataplane(b):
    b.log(f"\n== 6a. published ports, data plane: connections/s (wrk) and throughput (iperf3) from outside and"
          f" from 127.0.0.1 vs the container's address ({DP_ROUNDS}×{DP_T} s each, interleaved)")
    host_addr = {"berth": "198.51.100.5", "docker": "198.51.100.9"}
    paths = {}
    for eng in (b.berth, b.docker):
        try:
            paths[eng.name] = dp_setup(b, eng, host_addr[eng.name])
            for path, (prefix, url, _, _) in paths[eng.name].items():
                wait_web(prefix, url)
        except Exception as ex:
            b.err(f"{eng.name}: published-port data plane setup", str(ex))
            paths.pop(eng.name, None)
    # Each round: every (engine, measure) group, its three paths back to back (so a per-round
    # ratio compares samples taken seconds apart), groups and paths in rotated order.
    groups = [(e, m) for e in paths for m in ("rate", "tput")]
    res = {f"{e} {m} {p}": [None] * DP_ROUNDS for e, m in groups for p in PATHS}
    for r in range(DP_ROUNDS):
        for e, m in b.rotate(groups, r):
            for p in b.rotate(list(PATHS), r):
                prefix, url, ip, port = paths[e][p]
                try:
                    res[f"{e} {m} {p}"][r] = (wrk(prefix, url, DP_T) if m == "rate"
                                              else b.iperf_client(prefix, ip, port, DP_T, PIN))
                except Exception as ex:
                    b.err(f"{e}: published-port {'connections/s' if m == 'rate' else 'throughput'} ({p})", str(ex))
    b.RESULTS["ports_dp"] = res
    for e in paths:
        for m, unit, scale in (("rate", "conn/s", 1), ("tput", "Gbit/s", 1e9)):
            direct = ok(res[f"{e} {m} direct"])
            line = f"   {e:6s} {unit:6s} direct {fmt(b.p50(direct), scale)}"
            for p in PATHS[1:]:
                line += f" | {p} {fmt(b.p50(ok(res[f'{e} {m} {p}'])), scale)} ({pct(share(b, res, e, m, p)[0])})"
            b.log(line)
    for eng in (b.berth, b.docker):
        eng.rm_all(["ppweb", "ppiperf"])
        eng.api.call("DELETE", "/networks/bench-pp")
        subprocess.run(["ip", "-n", E["BENCH_NS_OUT"], "route", "del", SUBNET[eng.name]], capture_output=True)


def ok(xs):
    return [x for x in xs if x is not None]


def fmt(v, scale):
    if v is None:
        return "—"
    return f"{v / scale:.2f}" if scale > 1 else f"{v:,.0f}"


def pct(v):
    return "—" if v is None else f"{100 * v:.1f}%"


def share(b, res, e, m, p, base=None):
    """(ratio of the medians, median of the per-round ratios, per-round ratios) of path p ÷ its
    base (the same client's direct path, or `base`)."""
    d, x = res.get(f"{e} {m} {base or BASE.get(p, 'direct')}", []), res.get(f"{e} {m} {p}", [])
    rounds = [xi / di for xi, di in zip(x, d) if xi and di]
    med = b.p50(ok(x)) / b.p50(ok(d)) if ok(x) and ok(d) else None
    return med, b.p50(rounds), rounds


# ---- 6b. control plane ------------------------------------------------------------------------
def grow_args(k):
    lo = 20000 + 10 * k
    return ["run", "-d", "--name", f"pg{k}", "-p", f"{lo}-{lo + 9}:8000-8009", "bb:latest", "sleep", "1000000"]


def control_plane(b):
    b.log(f"\n== 6b. published ports, control plane: {GROW_LEVELS[-1]} containers × 10 ports, and `run -d` with 100"
          f" ports at {[10 * L for L in GROW_LEVELS]} ports already published ({PROBE_M} samples each, interleaved)")
    t_start = time.time()
    grown = {"berth": 0, "docker": 0}
    grow = {"berth": [], "docker": []}     # (k, run -d -p ×10 ms)
    probes, notes = {}, []
    docker_on, last_docker = True, -1
    for L in GROW_LEVELS:
        while grown["berth"] < L:
            k = grown["berth"] + 1
            if docker_on and k % 5 == 1:
                why = docker_stop_reason(b, t_start)
                if why:
                    docker_on = False
                    notes.append(f"Docker stopped growing at {grown['docker']} containers "
                                 f"({10 * grown['docker']} ports): {why}.")
                    b.log("   " + notes[-1])
            for e in b.rotate(["berth", "docker"] if docker_on else ["berth"], k):
                eng = b.berth if e == "berth" else b.docker
                try:
                    grow[e].append((k, eng.c(*grow_args(k))))
                    grown[e] = k
                except Exception as ex:
                    b.err(f"{e}: run -d with 10 published ports", str(ex))
                    if e == "docker":
                        docker_on = False
        # Docker is probed at its own population when it stopped growing before L, unless it did
        # not grow at all since the previous level.
        docker_here = grown["docker"] >= L or grown["docker"] > last_docker
        last_docker = grown["docker"] if docker_here else last_docker
        probes[L] = probe_level(b, grown, docker_here)
        pr = probes[L]
        b.log(f"   {10 * grown['berth']:5d} ports published: run -d -p (100 ports) p50 berth {b.fms(b.p50(pr['berth 100']))}"
              f" (plain {b.fms(b.p50(pr['berth 0']))}) | docker {b.fms(b.p50(pr['docker 100']))}"
              f" (plain {b.fms(b.p50(pr['docker 0']))}) at {pr['docker_ports']} Docker ports")
    facts = published_facts(b)
    b.RESULTS["ports_cp"] = {"grow": grow, "probes": probes, "grown": grown, "notes": notes, "facts": facts}
    for e in ("berth", "docker"):
        v = [ms for _, ms in grow[e]]
        b.log(f"   {e:6s} {len(v)} × run -d -p (10 ports): total {sum(v) / 1000:.1f} s, p50 {b.fms(b.p50(v))},"
              f" p99 {b.fms(b.p99(v))}")
    b.log(f"   {facts}")
    t = time.time()
    with concurrent.futures.ThreadPoolExecutor(2) as ex:   # both engines at once, untimed
        list(ex.map(lambda eng: eng.rm_all(threads=8 if eng is b.docker else 4), (b.berth, b.docker)))
    b.log(f"   ... removed in {time.time() - t:.0f} s")


def docker_stop_reason(b, t_start):
    if b.mem_available_mb() < b.DOCKER_MIN_AVAIL_MB:
        return f"the machine's MemAvailable fell below {b.DOCKER_MIN_AVAIL_MB} MB"
    if time.time() - t_start > DOCKER_DEADLINE_S:
        return f"scenario 6b passed {DOCKER_DEADLINE_S / 60:g} minutes"
    return None


def probe_level(b, grown, docker_here):
    """`run -d` with 100 published ports and without any, removed after each (untimed)."""
    r = {"berth 100": [], "berth 0": [], "docker 100": [], "docker 0": [],
         "berth_ports": 10 * grown["berth"], "docker_ports": 10 * grown["docker"] if docker_here else None}
    kinds = [(e, n) for e in (["berth", "docker"] if docker_here else ["berth"]) for n in ("100", "0")]
    for m in range(PROBE_M):
        for e, n in b.rotate(kinds, m):
            eng = b.berth if e == "berth" else b.docker
            ports = ["-p", PROBE_PORTS] if n == "100" else []
            try:
                time.sleep(b.SETTLE_S)
                r[f"{e} {n}"].append(eng.c("run", "-d", "--name", "pprobe", *ports, "bb:latest", "sleep", "1000000"))
            except Exception as ex:
                b.err(f"{e}: run -d with {n} published ports (probe)", str(ex))
            st, out, _ = eng.api.call("DELETE", "/containers/pprobe?force=1")
            if st >= 300 and st != 404:
                b.err(f"{e}: rm (probe)", f"{st} {out}")
    return r


def published_facts(b):
    """What each engine has in force at the top level: berth's DNAT map elements, Docker's DNAT
    rules and userland proxies (each a process)."""
    f = {}
    try:
        j = json.loads(b.sh(["nsenter", host_ns("berth"), "nft", "-j", "list", "map", "inet", "berth", "ports_any4"]))
        elems = next(x["map"].get("elem", []) for x in j["nftables"] if "map" in x)
        f["berth DNAT map elements"] = len(elems)
    except Exception as ex:
        b.err("berth: list ports_any4", str(ex))
    try:
        nat = b.sh(["nsenter", host_ns("docker"), "iptables", "-t", "nat", "-S", "DOCKER"])
        f["Docker DNAT rules"] = sum(1 for line in nat.splitlines() if "-j DNAT" in line)
    except Exception as ex:
        b.err("docker: iptables -t nat -S DOCKER", str(ex))
    dpid = int(E["BENCH_DOCKERD_PID"])
    proxies = [p for p in b.procs_matching("docker-proxy") if ppid(p) == dpid]
    f["Docker docker-proxy processes"] = len(proxies)
    f["Docker docker-proxy RSS MB"] = round(sum(b.rss_kb(p) for p in proxies) / 1024, 1)
    return f


def ppid(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


# ---- targets and report -----------------------------------------------------------------------
def targets(b, tg):
    dp = b.RESULTS.get("ports_dp", {})
    for m, what in (("rate", "new connections/s"), ("tput", "throughput")):
        for p, where in (("outside", "from outside"), ("loopback", "from 127.0.0.1")):
            med, rmed, rounds = share(b, dp, "berth", m, p)
            if med is None:
                continue
            dmed, drmed, _ = share(b, dp, "docker", m, p)
            tg.append((f"published port, {what} {where} ≥ {100 * TARGET:.0f}% of direct",
                       f"{pct(med)} (ratio of the medians); {pct(rmed)} (median of the {len(rounds)} per-round ratios, "
                       f"{100 * min(rounds):.0f}–{100 * max(rounds):.0f}%); Docker 20.10: {pct(dmed)} / {pct(drmed)}",
                       min(med, rmed or 0) >= TARGET,
                       "direct = the same client to the container's address ("
                       + ("routed through the host from the outside namespace; against the host namespace's direct "
                          f"path instead: {pct(share(b, dp, 'berth', m, p, 'direct')[0])}, Docker "
                          f"{pct(share(b, dp, 'docker', m, p, 'direct')[0])}" if p == "outside" else "host namespace")
                       + "); met only if both figures are ≥ 95%"))
    cp = b.RESULTS.get("ports_cp", {})
    flat = flatness(b, cp, "berth")
    if flat:
        r, first, last, n0, n1 = flat
        d = flatness(b, cp, "docker")
        ds = f"; Docker 20.10: {r_str(d[0])} ({b.fms(d[1])} at {d[3]} → {b.fms(d[2])} at {d[4]} ports)" if d else ""
        pr = cp["probes"]
        lv = sorted(L for L in pr if pr[L]["berth 0"] and pr[L]["berth 100"])
        plain = (f"; a plain `run -d` (no ports) at the same levels: "
                 f"{r_str(b.p50(pr[lv[-1]]['berth 0']) / b.p50(pr[lv[0]]['berth 0']))}" if len(lv) >= 2 else "")
        tg.append((f"`run -d` with 100 published ports flat in ports already published (last ÷ first ≤ {FLAT}×)",
                   f"{r_str(r)} ({b.fms(first)} at {n0} → {b.fms(last)} at {n1} ports, p50, CLI){plain}{ds}", r <= FLAT,
                   "issue 5: Docker's nftables backend grows with rules (moby #53466)"))


def r_str(r):
    return f"{r:.2f}×"


def flatness(b, cp, e):
    """(last ÷ first, first p50, last p50, ports at first, ports at last) of `run -d` with 100 ports."""
    pr = cp.get("probes", {})
    lv = [L for L in sorted(pr) if pr[L][f"{e} 100"] and pr[L][f"{e}_ports"] is not None]
    if len(lv) < 2:
        return None
    first, last = b.p50(pr[lv[0]][f"{e} 100"]), b.p50(pr[lv[-1]][f"{e} 100"])
    return last / first, first, last, pr[lv[0]][f"{e}_ports"], pr[lv[-1]][f"{e}_ports"]


def report(b, w, charts):
    dp, cp = b.RESULTS.get("ports_dp", {}), b.RESULTS.get("ports_cp", {})
    if not dp and not cp:
        return
    w("## 6. Published ports\n")
    w("Both engines publish on their default host address (0.0.0.0). berth forwards in the kernel only (nftables "
      "DNAT through maps, one element per port, no proxy process; TCP clients in the host's own namespace are "
      "connected to the container at `connect()` by a cgroup BPF program, `--socket-lb`). Docker 20.10 runs with its defaults: iptables "
      f"({b.version(['iptables', '--version'])}) DNAT from other hosts, and a userland proxy (`docker-proxy`, one "
      "process per published port and address family) for connections from the host's own loopback.\n")
    if dp:
        report_dp(b, w, charts, dp)
    if cp:
        report_cp(b, w, charts, cp)


def report_dp(b, w, charts, dp):
    w("### 6a. Through a published port: connections/s and throughput\n")
    w(f"Servers in containers on a user-defined bridge: busybox `httpd` (`-p {WEB_PORT}:80`) and `iperf3 -s` "
      f"(`-p {IPERF_PORT}:5201`). **Connections/s**: `wrk -t1 -c{WRK_CONNS} -H 'Connection: close'`, one GET of a "
      "small file per TCP connection (busybox httpd forks a process per connection, which bounds the rate; "
      "`net.ipv4.tcp_max_tw_buckets=0` in its namespace, so that its TIME_WAIT sockets, 60 s each, do not "
      f"refuse the SYNs of wrk's reused source ports and bill one path's leftovers to the next){WRK_PIN_TXT}. "
      f"**Throughput**: iperf3, one TCP stream{PIN_TXT}. Paths: *direct* = the client in the engine's host namespace to the "
      "container's address and port; *routed* = the client in the outside namespace to the container's address "
      "and port, routed through the host (berth's network has `gateway_mode_ipv4=nat-unprotected` for this; "
      "Docker 20.10 lets routed connections to published container ports in by default); *outside* = the client "
      "in the outside namespace to the host's address and published port; *loopback* = the client in the host "
      "namespace to 127.0.0.1 and the published port (berth: connected to the container at `connect()` by its "
      "socket-level forwarding, `berthd --socket-lb`, the default; Docker: docker-proxy). "
      f"{DP_ROUNDS} rounds × {DP_T} s per sample; each round runs, "
      "for each engine and measure, the four paths back to back (order rotated every round); figures are medians. "
      "% = ratio of the medians to the same client's direct path (outside ÷ routed, loopback ÷ direct; routed ÷ "
      "direct shows what the outside client's extra veth hop and forward cost), median of the per-round ratios "
      "in brackets.\n")
    w("| measure | path | berth | berth % of the same client's direct | Docker 20.10 | Docker % |\n|---|---|---|---|---|---|")
    for m, unit, scale in (("rate", "connections/s", 1), ("tput", "Gbit/s", 1e9)):
        for p in PATHS:
            cells = []
            for e in ("berth", "docker"):
                v = ok(dp.get(f"{e} {m} {p}", []))
                med, rmed, _ = share(b, dp, e, m, p)
                cells.append(fmt(b.p50(v), scale) if v else "—")
                cells.append("100%" if p == "direct" and v else f"{pct(med)} ({pct(rmed)})" if med else "—")
            w(f"| {unit} | {p} | " + " | ".join(cells) + " |")
    w("")
    for m, title, unit, scale in (("rate", "New TCP connections/s through a published port", "connections/s", 1),
                                  ("tput", "Throughput through a published port (iperf3)", "Gbit/s", 1e9)):
        ser = {e: [(b.p50(ok(dp.get(f"{e} {m} {p}", []))) or 0) / scale for p in PATHS] for e in ("berth", "docker")}
        if b.svg_chart(os.path.join(charts, f"ports-{m}.svg"), title, "", unit, ser, bars=list(PATHS)):
            w(f"![{title}](bench/charts/ports-{m}.svg)\n")


def report_cp(b, w, charts, cp):
    grow, probes = cp["grow"], cp["probes"]
    w("### 6b. Publishing many ports\n")
    w(f"{GROW_LEVELS[-1]} containers (`bb:latest sleep`, default bridge) with 10 published ports each, "
      "`run -d -p H-H+9:8000-8009` one after another (berth and Docker alternately, CLI, each timed to its return). "
      f"Before the growth and after each step, `run -d -p {PROBE_PORTS}` (100 published ports) and a plain "
      f"`run -d` (no ports) are timed {PROBE_M}× per engine (interleaved, each container removed, untimed, after "
      f"its sample, {b.SETTLE_S * 1000:g} ms pause before each).\n")
    for note in cp.get("notes", []):
        w(note + "\n")
    w("| engine | containers | ports | total | p50 per container | p99 per container |\n|---|---|---|---|---|---|")
    for e, label in (("berth", "berth"), ("docker", "Docker 20.10")):
        v = [ms for _, ms in grow[e]]
        if v:
            w(f"| {label} | {len(v)} | {10 * len(v)} | {sum(v) / 1000:.2f} s | {b.fms(b.p50(v))} | {b.fms(b.p99(v))} |")
    w("")
    w("| ports already published (berth / Docker) | berth, 100 ports p50 / p99 | berth, no ports p50 / p99 | "
      "Docker, 100 ports p50 / p99 | Docker, no ports p50 / p99 | Docker ÷ berth (100 ports) |\n|---|---|---|---|---|---|")
    for L in sorted(probes):
        r = probes[L]
        dn = r["docker_ports"] if r["docker_ports"] is not None else "—"
        w(f"| {r['berth_ports']} / {dn} | {b.cell(r['berth 100'], PROBE_M)} | {b.cell(r['berth 0'], PROBE_M)} | "
          f"{b.cell(r['docker 100'], PROBE_M)} | {b.cell(r['docker 0'], PROBE_M)} | "
          f"{b.fx(b.p50(r['docker 100']), b.p50(r['berth 100']))} |")
    w("")
    for e, label in (("berth", "berth"), ("docker", "Docker 20.10")):
        f = flatness(b, cp, e)
        if f:
            w(f"{label}: `run -d` with 100 ports, p50 at {f[4]} ports published ÷ at {f[3]}: **{r_str(f[0])}**.")
    facts = cp.get("facts", {})
    if facts:
        w("\nIn force at the top level: " + "; ".join(f"{k}: {v}" for k, v in facts.items()) + ".\n")
    ser = {}
    for e, label in (("berth", "berth"), ("docker", "Docker")):
        for n, kind in (("100", "100 ports"), ("0", "plain")):
            ser[f"{label}, {kind}"] = [(probes[L][f"{e}_ports"], b.p50(probes[L][f"{e} {n}"])) for L in sorted(probes)
                                       if probes[L][f"{e}_ports"] is not None and probes[L][f"{e} {n}"]]
    if b.svg_chart(os.path.join(charts, "ports-start.svg"), "run -d vs ports already published",
                   "ports already published", "ms p50 (log scale)", ser, logy=True):
        w("![run -d with 100 ports vs ports already published](bench/charts/ports-start.svg)\n")
    ser = {label: b.window_medians(grow[e], 5 if len(grow[e]) <= 50 else 10)
           for e, label in (("berth", "berth"), ("docker", "Docker"))}
    if b.svg_chart(os.path.join(charts, "ports-grow.svg"), "run -d with 10 published ports, one after another",
                   "k-th container", "ms (median per window, log scale)", ser, logy=True):
        w("![run -d with 10 ports while ports pile up](bench/charts/ports-grow.svg)\n")
