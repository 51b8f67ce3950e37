#!/usr/bin/env python3
"""Burst of new keep-alive connections: how long until every one is answered.

tiny_http queues new connections behind busy pool threads (its TaskPool reads a
stale idle count), and a queued connection waits until some thread's connection
ends. tracksd's levers are the idle timeout (a third of idle_timeout_ms per socket
read frees a thread) and the pool ballast (src/ballast.rs). This prints p50/p100
first-response latency for bursts of 16 and 64 connections at several idle
timeouts, with the ballast (default) or without it (BURST_BALLAST=false).

usage: bench/burst.py [path/to/tracksd]   (default target/release/tracksd)
"""
import os, socket, statistics, subprocess, sys, tempfile, threading, time

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/release/tracksd"
RUNS = int(os.environ.get("BURST_RUNS", "5"))
BALLAST = os.environ.get("BURST_BALLAST", "true")  # "false": measure without the pool ballast


def start(idle_ms):
    d = tempfile.mkdtemp(prefix="tracksd-burst-")
    cfg = os.path.join(d, "c.toml")
    with open(cfg, "w") as f:
        f.write(f'listen = "127.0.0.1:0"\nstate_dir = "{d}/state"\n[server]\nidle_timeout_ms = {idle_ms}\nballast = {BALLAST}\n')
    p = subprocess.Popen([BIN, "--config", cfg], stderr=subprocess.PIPE, text=True)
    for line in p.stderr:
        if line.startswith("tracksd listening on http://"):
            host, port = line.split("http://")[1].split()[0].rsplit(":", 1)
            threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()
            return p, (host, int(port))
    raise SystemExit("server did not start")


def burst(addr, n):
    socks = [socket.create_connection(addr) for _ in range(n)]
    go = threading.Barrier(n)
    lat = [None] * n

    def one(i):
        s = socks[i]
        s.settimeout(10)
        go.wait()
        t = time.perf_counter()
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            if s.recv(64).startswith(b"HTTP/1.1 200"):
                lat[i] = time.perf_counter() - t
        except OSError:
            pass

    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    [s.close() for s in socks]
    return lat


print(f"ballast = {BALLAST}")
print(f"| idle_timeout_ms | connections | answered | p50 ms | p100 ms (worst of {RUNS} runs) |")
print("|---|---|---|---|---|")
for idle in (300, 1000, 5000):
    for n in (16, 64):
        p, addr = start(idle)
        worst, answered, p50s = 0.0, n, []
        for _ in range(RUNS):
            lat = burst(addr, n)
            ok = [x for x in lat if x is not None]
            answered = min(answered, len(ok))
            if ok:
                worst = max(worst, max(ok))
                p50s.append(statistics.median(ok))
            time.sleep(idle / 1000 * 1.2)  # let the previous burst's threads go idle
        p.terminate()
        p.wait()
        print(f"| {idle} | {n} | {answered}/{n} | {statistics.median(p50s)*1000:.1f} | {worst*1000:.1f} |")
