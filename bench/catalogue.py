#!/usr/bin/env python3
"""Worst-case catalogue: file size, write time and memory at the byte bound.

Usage: python3 bench/catalogue.py target/release/tracksd [control|ascii]

Writes a tracks.json just under `[tracks] max_catalogue_bytes` (default) whose
text fields are 200 characters each: `control` uses U+0001, which JSON
escapes to six bytes (the most bytes per character); `ascii` uses plain
letters (the most memory per byte, so the 10,000-track bound comes first).
Then it starts tracksd on it and reports the peak RSS of the start, the time
of POSTs that rewrite the whole file, the RSS after them, the size of
`GET /tracks?limit=1000`, and that one more track is 507. Not part of
`make test`; it writes ~100 MB and needs a few seconds.
"""
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

BIN, KIND = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "control")
MAX_BYTES = 8 << 20  # config::DEFAULT_MAX_CATALOGUE_BYTES
MAX_TRACKS = 10_000
FAST_JOHN = "$pbkdf2-sha256$i=1000,l=32$c2FsdHNhbHRzYWx0c2FsdA$8nX7hwFEzIB8aPajJTYK8weHQc5Ngz0pFVAKvSu4jQA"
CH = "\u0001" if KIND == "control" else "a"


def track(i):
    text = CH * 200
    return {"id": i, "title": text, "artist": text, "album": text, "year": 2000, "label": text}


def compact(t):
    # serde_json's compact form: the bytes tracksd counts.
    return json.dumps(t, separators=(",", ":"))


def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) / 1024
    return out


def main():
    work = tempfile.mkdtemp(prefix="tracksd-catalogue-")
    proc = None
    try:
        state = os.path.join(work, "state")
        os.mkdir(state, 0o700)
        per = len(compact(track(1)))
        n = min(MAX_TRACKS - 1, (MAX_BYTES - per) // per)
        with open(os.path.join(state, "tracks.json"), "w") as f:
            f.write("[\n  " + ",\n  ".join(compact(track(i)) for i in range(1, n + 1)) + "\n]\n")
        size0 = os.path.getsize(os.path.join(state, "tracks.json"))
        conf = os.path.join(work, "tracksd.toml")
        with open(conf, "w") as f:
            f.write(f'listen = "127.0.0.1:0"\nstate_dir = "{state}"\n'
                    f'[[users]]\nusername = "john"\npassword_hash = "{FAST_JOHN}"\n')
        t0 = time.monotonic()
        proc = subprocess.Popen([BIN, "--config", conf], stderr=subprocess.PIPE, text=True)
        line = ""
        while "listening on" not in line:
            line = proc.stderr.readline()
            assert line, "tracksd did not start"
        started = time.monotonic() - t0
        host, port = line.strip().rsplit("//", 1)[1].split(":")
        at_start = status(proc.pid)

        def call(method, path, body=None, headers=None):
            c = http.client.HTTPConnection(host, int(port), timeout=60)
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            c.close()
            return r, data

        r, _ = call("POST", "/login", "username=john&password=password",
                    {"Content-Type": "application/x-www-form-urlencoded"})
        # The session cookie (a login also sets the device cookie first).
        cookie = next(v.split(";")[0] for k, v in r.getheaders()
                      if k.lower() == "set-cookie" and v.startswith("my_session_id="))
        writes = []
        for i in range(n + 1, n + 4):
            t = time.monotonic()
            r, data = call("PUT", f"/tracks/{i - 3}",
                           json.dumps(track(i - 3)), {"Cookie": cookie, "Content-Type": "application/json"})
            writes.append((time.monotonic() - t) * 1000)
            assert r.status == 200, (r.status, data)
        r, page = call("GET", "/tracks?limit=1000")
        r2, data = call("POST", "/tracks", json.dumps(track(n + 1)),
                        {"Cookie": cookie, "Content-Type": "application/json"})
        after = status(proc.pid)
        print(f"kind={KIND} tracks={n} bytes/track={per} tracks.json={size0} B ({size0 / 2**20:.1f} MiB)")
        print(f"start: {started * 1000:.0f} ms to listening, VmRSS {at_start['VmRSS']:.1f} MiB, VmHWM {at_start['VmHWM']:.1f} MiB")
        print("whole-file rewrites (PUT, ms): " + ", ".join(f"{w:.0f}" for w in writes))
        print(f"after: VmRSS {after['VmRSS']:.1f} MiB, VmHWM {after['VmHWM']:.1f} MiB")
        print(f"GET /tracks?limit=1000: {len(page)} B; one more track: {r2.status} {data.decode()[:60]}")
    finally:
        if proc:
            proc.kill()
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)


main()
