#!/usr/bin/env python3
"""slotwatch benchmarks: side by side with the de facto Redis exporter, scale on the cluster
simulator, and detection latency. Run through scripts/bench, which installs and builds what
this needs; every subcommand prints a Markdown table.

  compare   one observation of a real 6-node cluster: slotwatch (one poll plus one /metrics
            scrape) against prometheus-redis-exporter (one /scrape?target= per node),
            interleaved; medians over --cycles. Then /metrics latency under 50 scrapers (wrk).
  scale     slotwatch against 100, 500 and 1000 simulated nodes: poll time, CPU, RSS, bytes.
  fleet     one slotwatch watching 200 simulated clusters of 6 nodes: CPU and RSS.
  latency   time from a change completing to its event in /events, with --poll-interval 1s:
            failovers and reshards on a real cluster, reshards on the simulator.
  clients   what one CLIENT LIST costs a node with --connections client connections (redis-server
            7.0 and valkey-server 9.1): reply size and server CPU, and the share of one core
            the client analysis takes at the default --clients-interval.
  hostile   the HTTP side under abuse: --slow connections sending headers a byte at a time
            while a legitimate scraper measures /metrics, then --auth-clients wrong-password
            and unknown-user clients against a basic-auth web config, warm and cold.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLOTWATCH = os.environ.get("SLOTWATCH_BIN", os.path.join(ROOT, "target/release/slotwatch"))
SIM = os.environ.get("CLUSTER_SIM_BIN", os.path.join(ROOT, "target/release/cluster_sim"))
TCK = os.sysconf("SC_CLK_TCK")
PROCS = []


# ---------------------------------------------------------------- helpers

def spawn(args, log, **kw):
    p = subprocess.Popen(args, stdout=open(log, "w"), stderr=subprocess.STDOUT, **kw)
    PROCS.append(p)
    return p


def cleanup():
    for p in PROCS:
        if p.poll() is None:
            p.kill()
    for p in PROCS:
        try:
            p.wait(timeout=5)
        except Exception:
            pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_run(n, low=20000, high=29000, bus=True):
    """n consecutive free loopback ports, starting in [low, high]; with bus, their +10000
    cluster bus ports are free too."""
    import random
    for _ in range(200):
        base = random.randint(low, high)
        wanted = list(range(base, base + n))
        if bus:
            wanted += [p + 10000 for p in wanted]
        socks = []
        try:
            for p in wanted:
                s = socket.socket()
                s.bind(("127.0.0.1", p))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    sys.exit("no free run of ports found")


def cpu_seconds(pid):
    """CPU time of every thread of pid, in seconds, with nanosecond resolution (schedstat);
    /proc/<pid>/stat counts in 10 ms ticks, too coarse for one observation."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            total += int(open(f"/proc/{pid}/task/{tid}/schedstat").read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that exited between listdir and open
    return total / 1e9


def status_kib(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def http(url, timeout=30):
    t = time.perf_counter()
    body = urllib.request.urlopen(url, timeout=timeout).read()
    return body, time.perf_counter() - t


def metric(body, name, labels=""):
    m = re.search(r"^" + re.escape(name) + r"(\{[^}]*" + re.escape(labels) + r"[^}]*\})? (\S+)$", body, re.M)
    return float(m.group(2)) if m else None


def wait(what, cond, timeout=60, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(step)
    sys.exit(f"timed out waiting for {what}")


def redis(port, *args):
    out = subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True)
    return out.stdout


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


class Cluster:
    """A real 6-node cluster (3 masters, 3 replicas) on loopback."""

    def __init__(self, tmp, server="redis-server", extra=()):
        self.base = free_run(6)
        self.ports = list(range(self.base, self.base + 6))
        for p in self.ports:
            d = os.path.join(tmp, f"redis-{p}")
            os.makedirs(d)
            spawn([server, "--port", str(p), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                   "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "3000", "--dir", d,
                   "--save", "", "--appendonly", "no", *extra], os.path.join(d, "log"))
        for p in self.ports:
            wait(f"redis {p}", lambda p=p: "PONG" in redis(p, "PING"))
        subprocess.run(["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in self.ports],
                        "--cluster-replicas", "1", "--cluster-yes"], capture_output=True, check=True)
        wait("cluster ok", lambda: all("cluster_state:ok" in redis(p, "CLUSTER", "INFO") for p in self.ports))
        wait("replicas synced", lambda: all("master_link_status:up" in redis(p, "INFO", "replication")
                                            for p in self.ports if "role:slave" in redis(p, "INFO", "replication")))

    def totals(self):
        """Sum over nodes of commandstats usec and bytes sent to clients."""
        usec = 0
        out_bytes = 0
        for p in self.ports:
            for m in re.finditer(r"usec=(\d+)", redis(p, "INFO", "commandstats")):
                usec += int(m.group(1))
            m = re.search(r"total_net_output_bytes:(\d+)", redis(p, "INFO", "stats"))
            out_bytes += int(m.group(1))
        return usec, out_bytes

    def nodes(self):
        lines = redis(self.ports[0], "CLUSTER", "NODES").splitlines()
        return [l.split() for l in lines]


def start_slotwatch(seed, tmp, *extra):
    port = free_port()
    p = spawn([SLOTWATCH, "serve", "--seed", seed, "--listen", f"127.0.0.1:{port}", *extra],
              os.path.join(tmp, f"slotwatch-{port}.log"))
    url = f"http://127.0.0.1:{port}"
    wait("slotwatch", lambda: _ok(url + "/healthz"))
    wait("first poll", lambda: metric(http(url + "/metrics")[0].decode(), "slotwatch_up") == 1.0)
    return p, url


def _ok(url):
    try:
        http(url, timeout=1)
        return True
    except Exception:
        return False


def _listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def polls(url):
    return metric(http(url + "/metrics")[0].decode(), "slotwatch_polls_total")


# ---------------------------------------------------------------- compare

def compare(args):
    tmp = tempfile.mkdtemp(prefix="slotwatch-bench-")
    # --server runs the cluster on another binary (e.g. a Valkey 9.1 of target/servers), with
    # per-slot CPU and network counting on, so that the poll's CLUSTER SLOT-STATS has its full
    # cost; --slot-stats-interval sets how often slotwatch reads it (2s: every poll).
    extra = ("--cluster-slot-stats-enabled", "yes") if args.server != "redis-server" else ()
    cluster = Cluster(tmp, args.server, extra)
    sw, sw_url = start_slotwatch(f"redis://127.0.0.1:{cluster.ports[0]}", tmp, "--poll-interval", "2s",
                                 "--slot-stats-interval", args.slot_stats_interval)
    peer_port = free_port()
    peer = spawn(["prometheus-redis-exporter", "-web.listen-address", f"127.0.0.1:{peer_port}",
                  "-redis.addr", ""], os.path.join(tmp, "peer.log"))
    peer_url = f"http://127.0.0.1:{peer_port}"
    wait("the peer exporter", lambda: _ok(peer_url + "/metrics"))
    targets = [f"redis://127.0.0.1:{p}" for p in cluster.ports]
    for t in targets:  # warm up: the peer connects lazily
        http(f"{peer_url}/scrape?target={t}")

    rows = {"slotwatch": {"cpu": [], "redis_usec": [], "bytes": []},
            "peer": {"cpu": [], "redis_usec": [], "bytes": []}}
    baseline_usec, baseline_bytes = [], []
    done = 0
    interval = 2.0
    while done < args.cycles:
        # Align on slotwatch's own timer without touching it inside a window: read when the
        # last poll started, then work in the quiet gap before the next one.
        body = http(sw_url + "/metrics")[0].decode()
        last = metric(body, "slotwatch_last_poll_timestamp_seconds")
        n = metric(body, "slotwatch_polls_total")
        time.sleep(max(0.0, last + interval + 0.5 - time.time()))
        # Baseline: the measurement queries alone.
        u0, b0 = cluster.totals()
        u1, b1 = cluster.totals()
        # The peer: one scrape of each node, as Prometheus would do through /scrape?target=.
        c0 = cpu_seconds(peer.pid)
        for t in targets:
            http(f"{peer_url}/scrape?target={t}")
        c1 = cpu_seconds(peer.pid)
        u2, b2 = cluster.totals()
        if time.time() > last + 2 * interval - 0.1:
            continue  # the peer's window ran into slotwatch's next poll: discard the cycle
        # slotwatch: one poll and one /metrics scrape, nothing else in the window.
        s0 = cpu_seconds(sw.pid)
        u3, b3 = cluster.totals()
        time.sleep(max(0.0, last + 2 * interval + 0.5 - time.time()))
        body = http(sw_url + "/metrics")[0].decode()
        s1 = cpu_seconds(sw.pid)
        u4, b4 = cluster.totals()
        if metric(body, "slotwatch_polls_total") != n + 2:
            continue
        base_u, base_b = u1 - u0, b1 - b0
        baseline_usec.append(base_u)
        baseline_bytes.append(base_b)
        rows["peer"]["cpu"].append(c1 - c0)
        rows["peer"]["redis_usec"].append(max(0, (u2 - u1) - base_u))
        rows["peer"]["bytes"].append(max(0, (b2 - b1) - base_b))
        rows["slotwatch"]["cpu"].append(s1 - s0)
        rows["slotwatch"]["redis_usec"].append(max(0, (u4 - u3) - base_u))
        rows["slotwatch"]["bytes"].append(max(0, (b4 - b3) - base_b))
        done += 1

    rss = {"slotwatch": status_kib(sw.pid, "VmHWM"), "peer": status_kib(peer.pid, "VmHWM")}
    lat, rps = scrapers(sw_url + "/metrics")

    def m(who, k):
        return median(rows[who][k])

    print(f"\n### slotwatch vs prometheus-redis-exporter, one observation of a 6-node cluster "
          f"(median of {args.cycles} interleaved cycles)\n")
    print("| per observation | slotwatch | redis_exporter | ratio | goal |")
    print("|---|---|---|---|---|")
    print(f"| exporter CPU | {1000 * m('slotwatch', 'cpu'):.2f} ms | {1000 * m('peer', 'cpu'):.2f} ms | "
          f"{m('slotwatch', 'cpu') / max(m('peer', 'cpu'), 1e-9):.2f} | ≤ 0.3 |")
    print(f"| Redis-side CPU (commandstats usec, all nodes) | {m('slotwatch', 'redis_usec'):.0f} µs | "
          f"{m('peer', 'redis_usec'):.0f} µs | {m('slotwatch', 'redis_usec') / max(m('peer', 'redis_usec'), 1e-9):.2f} | ≤ 0.25 |")
    print(f"| bytes read from Redis | {m('slotwatch', 'bytes') / 1024:.1f} KiB | {m('peer', 'bytes') / 1024:.1f} KiB | "
          f"{m('slotwatch', 'bytes') / max(m('peer', 'bytes'), 1e-9):.2f} | |")
    print(f"| exporter peak RSS (VmHWM) | {rss['slotwatch'] / 1024:.1f} MiB | {rss['peer'] / 1024:.1f} MiB | "
          f"{rss['slotwatch'] / max(rss['peer'], 1):.2f} | ≤ 0.5 |")
    print(f"\nExporter CPU from /proc/<pid>/task/*/schedstat (ns resolution). Measurement overhead "
          f"subtracted from the Redis-side figures: {median(baseline_usec):.0f} µs, "
          f"{median(baseline_bytes):.0f} B per window.")
    print(f"\n`/metrics` under 50 concurrent scrapers (wrk -t2 -c50 -d10s): p50 {lat.get('50', '?')}, "
          f"p99 {lat.get('99', '?')}, {rps.group(1) if rps else '?'} requests/s (goal: p99 < 5 ms).")
    cleanup()
    shutil.rmtree(tmp, ignore_errors=True)


def scrapers(url, *headers):
    """/metrics under 50 concurrent scrapers (wrk -t2 -c50 -d10s): ({"50": p50, "99": p99}, req/s)."""
    cmd = ["wrk", "-t2", "-c50", "-d10s", "--latency"]
    for h in headers:
        cmd += ["-H", h]
    out = subprocess.run(cmd + [url], capture_output=True, text=True).stdout
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    rps = re.search(r"Requests/sec:\s+(\S+)", out)
    return lat, rps


# ---------------------------------------------------------------- scale

class Simulator:
    def __init__(self, nodes, tmp):
        self.base = free_run(nodes, 30000, 60000 - nodes, bus=False)
        self.p = subprocess.Popen([SIM, "--nodes", str(nodes), "--base-port", str(self.base)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        PROCS.append(self.p)
        ready = json.loads(self.p.stdout.readline())
        assert ready.get("ready"), ready

    def ctl(self, cmd):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        return json.loads(self.p.stdout.readline())


def scale(args):
    tmp = tempfile.mkdtemp(prefix="slotwatch-bench-")
    print(f"\n### slotwatch on the cluster simulator, --poll-interval 5s, {args.window:.0f} s window "
          f"with one reshard and one failover, full views per poll: {args.full_views or 'default'}\n")
    print("| nodes | poll wall time | CPU per poll | CPU, % of one core | peak RSS | bytes read per poll | "
          "`/metrics` size | `/metrics` GET p50 | change detected after | "
          "`/metrics` p99, 50 scrapers (plain / gzip) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n in args.nodes:
        sim = Simulator(n, tmp)
        extra = ["--poll-interval", "5s"]
        if args.full_views:
            extra += ["--full-views-per-poll", str(args.full_views)]
        sw, url = start_slotwatch(f"redis://127.0.0.1:{sim.base}", tmp, *extra)
        wait("two polls", lambda: (polls(url) or 0) >= 2, timeout=120)
        m0 = http(url + "/metrics")[0].decode()
        c0, t0 = cpu_seconds(sw.pid), time.time()
        time.sleep(args.window / 4)
        r = sim.ctl("reshard 0 1 100")
        time.sleep(args.window / 4)
        f = sim.ctl(f"failover {n - 1}")
        time.sleep(max(0, t0 + args.window - time.time()))
        c1, t1 = cpu_seconds(sw.pid), time.time()
        m1 = http(url + "/metrics")[0].decode()
        gets = sorted(http(url + "/metrics")[1] for _ in range(20))
        events = json.loads(http(url + "/events")[0])
        lat = []
        for kind, ch in (("reshard", r), ("failover", f)):
            e = [e for e in events if e["kind"] == kind and e["timestamp_ms"] >= ch["at_ms"]]
            lat.append(f"{(e[0]['timestamp_ms'] - ch['at_ms']) / 1000:.1f} s" if e else "missed")

        def d(name):
            return metric(m1, name) - metric(m0, name)

        # Peak RSS before the scrapers: 50 concurrent 1-2 MiB responses are socket buffers.
        rss = status_kib(sw.pid, "VmHWM")
        plain, _ = scrapers(url + "/metrics")
        gz, _ = scrapers(url + "/metrics", "Accept-Encoding: gzip")
        k = d("slotwatch_polls_total")
        print(f"| {n} | {1000 * d('slotwatch_poll_duration_seconds_sum') / d('slotwatch_poll_duration_seconds_count'):.1f} ms "
              f"| {1000 * (c1 - c0) / k:.1f} ms | {100 * (c1 - c0) / (t1 - t0):.2f}% "
              f"| {rss / 1024:.1f} MiB | {d('slotwatch_redis_read_bytes_total') / k / 1e6:.2f} MB "
              f"| {len(m1) / 1024:.0f} KiB | {1000 * gets[10]:.2f} ms | {', '.join(lat)} "
              f"| {plain.get('99', '?')} / {gz.get('99', '?')} |", flush=True)
        sw.kill()
        sim.p.kill()
    cleanup()
    shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- fleet

def fleet(args):
    tmp = tempfile.mkdtemp(prefix="slotwatch-bench-")
    sim = subprocess.Popen([SIM, "--nodes", str(args.nodes), "--base-port", "0",
                            "--clusters", str(args.clusters)],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    PROCS.append(sim)
    ready = json.loads(sim.stdout.readline())
    assert ready.get("ready"), ready
    config = os.path.join(tmp, "fleet.yml")
    port = free_port()
    with open(config, "w") as f:
        f.write(f"listen: 127.0.0.1:{port}\nclusters:\n")
        for i, (first, _) in enumerate(ready["clusters"]):
            f.write(f"  - name: c{i}\n    seeds: [redis://127.0.0.1:{first}]\n    poll_interval: 5s\n")
    sw = spawn([SLOTWATCH, "serve", "--config", config], os.path.join(tmp, "slotwatch.log"))
    url = f"http://127.0.0.1:{port}"
    wait("slotwatch", lambda: _ok(url + "/healthz"))
    clusters = args.clusters

    def all_up():
        body = http(url + "/metrics")[0].decode()
        return sum(1 for l in body.splitlines()
                   if l.startswith("slotwatch_up{") and float(l.rsplit(" ", 1)[1]) == 1.0) == clusters
    wait("every cluster up", all_up, timeout=120)
    time.sleep(10)
    c0, t0 = cpu_seconds(sw.pid), time.time()
    time.sleep(args.window)
    c1, t1 = cpu_seconds(sw.pid), time.time()
    body = http(url + "/metrics")[0].decode()
    polls = sum(float(l.rsplit(" ", 1)[1]) for l in body.splitlines() if l.startswith("slotwatch_polls_total{"))
    print(f"\n### one slotwatch, {clusters} simulated clusters of {args.nodes} nodes, --poll-interval 5s, "
          f"{args.window:.0f} s window\n")
    print("| clusters × nodes | CPU, % of one core | peak RSS | polls done | `/metrics` size |")
    print("|---|---|---|---|---|")
    print(f"| {clusters} × {args.nodes} | {100 * (c1 - c0) / (t1 - t0):.2f}% | "
          f"{status_kib(sw.pid, 'VmHWM') / 1024:.1f} MiB | {polls:.0f} | {len(body) / 1024:.0f} KiB |")
    cleanup()
    shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- latency

def event_seen(url, kind, after_ms, pred=lambda e: True):
    def check():
        for e in json.loads(http(url + "/events")[0]):
            if e["kind"] == kind and e["timestamp_ms"] >= after_ms and pred(e):
                return time.time()
        return None
    end = time.time() + 60
    while time.time() < end:
        t = check()
        if t:
            return t
        time.sleep(0.01)
    recent = [e["message"] for e in json.loads(http(url + "/events")[0])][-10:]
    body = http(url + "/metrics")[0].decode()
    info = [l for l in body.splitlines() if l.startswith(("slotwatch_polls_total", "redis_cluster_node_info", "slotwatch_up"))]
    sys.exit(f"no {kind} event after {after_ms}; recent events: {recent}\n" + "\n".join(info))


def latency(args):
    tmp = tempfile.mkdtemp(prefix="slotwatch-bench-")
    results = {}
    cluster = Cluster(tmp)
    sw, url = start_slotwatch(f"redis://127.0.0.1:{cluster.ports[0]}", tmp, "--poll-interval", "1s")
    # Failovers: a replica of each shard in turn. Masters refuse to vote twice for the same
    # shard within 2 x cluster-node-timeout, so consecutive failovers use different shards.
    xs = []
    nodes = cluster.nodes()
    port_of = {l[0]: int(l[1].split("@")[0].rsplit(":", 1)[1]) for l in nodes}
    shards = [{l[0], l[3]} for l in nodes if "slave" in l[2]]
    for i in range(args.repeat):
        wait("replicas synced", lambda: all(
            "master_link_status:up" in redis(p, "INFO", "replication")
            for p in cluster.ports if "role:slave" in redis(p, "INFO", "replication")), timeout=60)
        # Ask the two nodes themselves: another node's view may not show the last swap yet.
        rport = next(port_of[n] for n in shards[i % len(shards)]
                     if "role:slave" in redis(port_of[n], "INFO", "replication"))
        start_ms = int(time.time() * 1000)
        redis(rport, "CLUSTER", "FAILOVER")
        # Done when another node's view shows the promoted replica owning slots.
        other = next(p for p in cluster.ports if p != rport)

        def promoted():
            for l in redis(other, "CLUSTER", "NODES").splitlines():
                f = l.split()
                if f[1].split("@")[0].endswith(f":{rport}") and "master" in f[2] and len(f) > 8:
                    return True
            return False
        wait("promotion", promoted, step=0.005)
        done = time.time()
        seen = event_seen(url, "failover", start_ms, lambda e: e["new_master"]["node"].endswith(f":{rport}"))
        xs.append(max(0.0, seen - done))
        time.sleep(1.0)
    results["failover, real cluster"] = xs
    # Reshards of 10 slots between the first two masters, back and forth.
    xs = []
    for i in range(args.repeat):
        masters = [l for l in cluster.nodes() if "master" in l[2] and len(l) > 8]
        a, b = (masters[0], masters[1]) if i % 2 == 0 else (masters[1], masters[0])
        start_ms = int(time.time() * 1000)
        subprocess.run(["redis-cli", "--cluster", "reshard", f"127.0.0.1:{cluster.ports[0]}",
                        "--cluster-from", a[0], "--cluster-to", b[0], "--cluster-slots", "10",
                        "--cluster-yes"], capture_output=True, check=True)
        done = time.time()
        seen = event_seen(url, "reshard", start_ms, lambda e: e["to"]["id"] == b[0])
        xs.append(max(0.0, seen - done))
        time.sleep(1.5)
    results["reshard, real cluster"] = xs
    sw.kill()
    # Reshards on the simulator.
    sim = Simulator(args.sim_nodes, tmp)
    sw, url = start_slotwatch(f"redis://127.0.0.1:{sim.base}", tmp, "--poll-interval", "1s")
    xs = []
    for i in range(args.repeat):
        ch = sim.ctl(f"reshard {i % 2} {(i + 1) % 2} 10")
        seen = event_seen(url, "reshard", ch["at_ms"])
        xs.append(seen - ch["at_ms"] / 1000)
        time.sleep(0.3)
    results[f"reshard, simulator ({args.sim_nodes} nodes)"] = xs
    print(f"\n### Detection latency, --poll-interval 1s --timeout 1s (goal: every one within 2 s)\n")
    print("| change | runs | min | median | p90 | max |")
    print("|---|---|---|---|---|---|")
    for k, xs in results.items():
        print(f"| {k} | {len(xs)} | {min(xs):.2f} s | {median(xs):.2f} s | {pct(xs, 0.9):.2f} s | {max(xs):.2f} s |")
    cleanup()
    shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- clients

def open_clients(port, n):
    """n idle client connections to port, each named like an application's, as sockets."""
    socks = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        name = f"app-{i % 50}-worker"
        s.sendall(f"*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n${len(name)}\r\n{name}\r\n".encode())
        socks.append(s)
    for s in socks:
        s.recv(16)  # +OK
    return socks


def clients(args):
    tmp = tempfile.mkdtemp(prefix="slotwatch-bench-")
    servers = [("redis-server 7.0", "redis-server")]
    valkey = os.path.join(ROOT, "target/servers/valkey-9.1.2/valkey-server")
    if os.path.exists(valkey):
        servers.append(("valkey-server 9.1", valkey))
    rows = []
    for label, binary in servers:
        port = free_port()
        d = os.path.join(tmp, f"{port}")
        os.makedirs(d)
        srv = spawn([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                     "--maxclients", str(args.connections + 100), "--dir", d], os.path.join(d, "log"))
        wait(label, lambda: "PONG" in redis(port, "PING"))
        socks = open_clients(port, args.connections)
        redis(port, "CONFIG", "RESETSTAT")
        sizes = []
        conn = socket.create_connection(("127.0.0.1", port))
        for _ in range(args.repeat):
            conn.sendall(b"*2\r\n$6\r\nCLIENT\r\n$4\r\nLIST\r\n")
            header = b""
            while not header.endswith(b"\r\n"):
                header += conn.recv(1)
            size = int(header[1:-2])
            got = 0
            while got < size + 2:
                got += len(conn.recv(min(1 << 20, size + 2 - got)))
            sizes.append(size)
        stats = redis(port, "INFO", "commandstats")
        m = re.search(r"cmdstat_client\|list:calls=(\d+),usec=(\d+)", stats)
        calls, usec = int(m.group(1)), int(m.group(2))
        per_call_ms = usec / calls / 1000
        # An analysis reads CLIENT LIST twice per node; the default interval is 60 s.
        share = 100 * 2 * per_call_ms / 1000 / 60
        rows.append((label, args.connections, median(sizes), per_call_ms, share))
        conn.close()
        for s in socks:
            s.close()
        srv.kill()
    print(f"\n### CLIENT LIST with {args.connections} client connections on one node, {args.repeat} calls\n")
    print("| server | connections | reply size | server time per call | node CPU at --clients-interval 60s (goal < 1%) | reply vs --max-reply-bytes 8 MiB |")
    print("|---|---|---|---|---|---|")
    for label, n, size, ms, share in rows:
        print(f"| {label} | {n} | {size / 1024 / 1024:.2f} MiB | {ms:.2f} ms | {share:.3f}% | {100 * size / (8 << 20):.0f}% |")
    cleanup()
    shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- hostile

def proc_max(pid, samples, stop):
    """Samples pid's fds, threads and RSS every 0.2 s into samples until stop is set."""
    import threading
    def run():
        while not stop.is_set():
            try:
                samples.append((len(os.listdir(f"/proc/{pid}/fd")), status_kib(pid, "Threads"),
                                status_kib(pid, "VmRSS")))
            except FileNotFoundError:
                return
            time.sleep(0.2)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def scrape_latencies(url, seconds, headers=None, every=0.1):
    """GETs url every `every` seconds for `seconds`; returns the latencies (a failure counts
    as the 10 s Prometheus scrape timeout)."""
    xs = []
    end = time.time() + seconds
    while time.time() < end:
        t = time.perf_counter()
        try:
            req = urllib.request.Request(url, headers=headers or {})
            urllib.request.urlopen(req, timeout=10).read()
            xs.append(time.perf_counter() - t)
        except Exception as e:
            xs.append(10.0)
            print(f"scrape of {url} failed: {e!r}", file=sys.stderr)
        time.sleep(every)
    return xs


async def slow_clients(port, n, seconds):
    """n connections sending a request's headers one byte a second; returns how many the
    server had closed by the end."""
    import asyncio
    request = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 4000
    conns = []
    for _ in range(n):
        try:
            conns.append(await asyncio.open_connection("127.0.0.1", port))
        except OSError:
            pass
    closed = set()
    for i in range(int(seconds)):
        for k, (_, w) in enumerate(conns):
            if k in closed:
                continue
            try:
                w.write(request[i:i + 1])
                await w.drain()
            except (ConnectionError, OSError):
                closed.add(k)
        await asyncio.sleep(1)
    for k, (r, _) in enumerate(conns):
        if k not in closed and r.at_eof():
            closed.add(k)
    for _, w in conns:
        w.close()
    return len(closed)


async def bad_auth_clients(port, n, seconds, user, kind):
    """n keep-alive clients sending requests with wrong credentials as fast as they are
    answered: a wrong password for `user` (kind "password") or unknown users ("user")."""
    import asyncio
    import base64
    end = time.time() + seconds
    answered = [0]

    async def one(i):
        who = f"{user}:wrong-{i}" if kind == "password" else f"nobody-{i}:pw"
        auth = base64.b64encode(who.encode()).decode()
        req = f"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n\r\n".encode()
        while time.time() < end:
            try:
                r, w = await asyncio.open_connection("127.0.0.1", port)
                while time.time() < end:
                    w.write(req)
                    await w.drain()
                    head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), timeout=30)
                    m = re.search(rb"content-length: (\d+)", head, re.I)
                    if m:
                        await r.readexactly(int(m.group(1)))
                    answered[0] += 1
            except Exception:
                await asyncio.sleep(0.05)
    await asyncio.gather(*(one(i) for i in range(n)))
    return answered[0]


def hostile(args):
    import asyncio
    import base64
    import threading
    tmp = tempfile.mkdtemp(prefix="slotwatch-bench-")
    sim = Simulator(6, tmp)
    rows = []
    # 1. Slow clients, no auth.
    sw, url = start_slotwatch(f"redis://127.0.0.1:{sim.base}", tmp)
    port = int(url.rsplit(":", 1)[1])
    base_fds = len(os.listdir(f"/proc/{sw.pid}/fd"))
    base_rss = status_kib(sw.pid, "VmRSS")
    samples, stop = [], threading.Event()
    proc_max(sw.pid, samples, stop)
    result = {}
    t = threading.Thread(target=lambda: result.update(
        closed=asyncio.run(slow_clients(port, args.slow, args.window))))
    t.start()
    time.sleep(2)
    lat = scrape_latencies(url + "/metrics", args.window - 4)
    t.join()
    stop.set()
    rows.append(("slow", args.slow, base_fds, max(x[0] for x in samples), base_rss,
                 max(x[2] for x in samples), pct(lat, 0.99), result["closed"]))
    sw.kill()
    # 2. Wrong credentials, against a basic-auth web config with bcrypt cost 10.
    line = subprocess.run(["htpasswd", "-nbBC", "10", "prom", "right-pw"], capture_output=True,
                          text=True, check=True).stdout.strip()
    web = os.path.join(tmp, "web.yml")
    with open(web, "w") as f:
        f.write(f"basic_auth_users:\n  prom: '{line.split(':', 1)[1]}'\n")
    good = {"Authorization": "Basic " + base64.b64encode(b"prom:right-pw").decode()}
    auth_rows = []
    for n, kind, cache in [(n, k, c) for n in args.auth_clients for k in ("password", "user")
                           for c in ("warm", "cold")]:
        port = free_port()
        sw = spawn([SLOTWATCH, "serve", "--seed", f"redis://127.0.0.1:{sim.base}", "--listen",
                    f"127.0.0.1:{port}", "--web.config.file", web, "--web.max-connections",
                    str(n + 100)], os.path.join(tmp, f"auth-{n}-{kind}-{cache}.log"))
        url = f"http://127.0.0.1:{port}"
        wait("slotwatch to listen", lambda: _listening(port), timeout=10)
        time.sleep(1)
        if cache == "warm":
            scrape_latencies(url + "/metrics", 0.5, good)
        samples, stop = [], threading.Event()
        proc_max(sw.pid, samples, stop)
        result = {}
        t = threading.Thread(target=lambda: result.update(
            answered=asyncio.run(bad_auth_clients(port, n, args.auth_window, "prom", kind))))
        t.start()
        time.sleep(1)
        # Four scrapes a second, each on a new connection (urllib does not keep it alive).
        lat = scrape_latencies(url + "/metrics", args.auth_window - 3, good, every=0.25)
        t.join()
        stop.set()
        auth_rows.append((cache, n, kind, pct(lat, 0.5), pct(lat, 0.99), max(lat),
                          sum(1 for x in lat if x >= 10.0), len(lat),
                          max(x[1] for x in samples), result["answered"]))
        sw.kill()
    print(f"\n### HTTP side under abuse, {args.window:.0f} s each (goal: legitimate /metrics p99 < 500 ms)\n")
    print("| case | hostile connections | fds before → max | RSS before → max | legitimate /metrics p99 | slow connections closed by the server |")
    print("|---|---|---|---|---|---|")
    for _, n, f0, f1, r0, r1, p99, closed in rows:
        print(f"| headers sent a byte a second | {n} | {f0} → {f1} | {r0 / 1024:.1f} → {r1 / 1024:.1f} MiB | "
              f"{p99 * 1000:.1f} ms | {closed} of {n} |")
    print(f"\n{args.auth_window:.0f} s each; the correct scraper sends four requests a second, each on a new connection.\n")
    print("| auth cache | wrong-credential clients | they send | correct scrape p50 | p99 | max | failed (counted as 10 s) | max threads | hostile requests answered |")
    print("|---|---|---|---|---|---|---|---|---|")
    for cache, n, kind, p50, p99, mx, failed, total, threads, answered in auth_rows:
        sends = "a wrong password for the real user" if kind == "password" else "unknown users"
        print(f"| {cache} | {n} | {sends} | {p50 * 1000:.1f} ms | {p99 * 1000:.1f} ms | {mx * 1000:.0f} ms | "
              f"{failed} of {total} | {threads} | {answered} |")
    cleanup()
    shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("compare")
    c.add_argument("--cycles", type=int, default=30)
    c.add_argument("--server", default="redis-server", help="the cluster's server binary")
    c.add_argument("--slot-stats-interval", default="5m", help="slotwatch's --slot-stats-interval")
    s = sub.add_parser("scale")
    s.add_argument("--nodes", type=int, nargs="+", default=[100, 500, 1000])
    s.add_argument("--window", type=float, default=60)
    s.add_argument("--full-views", type=int, default=0, help="--full-views-per-poll (0: default)")
    f = sub.add_parser("fleet")
    f.add_argument("--clusters", type=int, default=200)
    f.add_argument("--nodes", type=int, default=6)
    f.add_argument("--window", type=float, default=60)
    l = sub.add_parser("latency")
    l.add_argument("--repeat", type=int, default=10)
    l.add_argument("--sim-nodes", type=int, default=100)
    h = sub.add_parser("hostile")
    h.add_argument("--slow", type=int, default=3000)
    h.add_argument("--auth-clients", type=int, nargs="+", default=[300, 1000])
    h.add_argument("--auth-window", type=float, default=20)
    h.add_argument("--window", type=float, default=30)
    k = sub.add_parser("clients")
    k.add_argument("--connections", type=int, default=10000)
    k.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: (cleanup(), sys.exit(1)))
    try:
        {"compare": compare, "scale": scale, "fleet": fleet, "latency": latency,
         "clients": clients, "hostile": hostile}[args.cmd](args)
    finally:
        cleanup()


if __name__ == "__main__":
    main()
