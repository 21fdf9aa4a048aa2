#!/usr/bin/env python3
"""The web board's fan-out: CONNS browsers hold the board's live stream open
(Server-Sent Events, each its own desk worker, signed in through the single
sign-on header of a proxy on loopback), then one desk worker changes their
state on the board; measured is the time from that POST until the last of
the CONNS streams has the change, and the server's memory per open stream
(proportional set size before and after the streams opened). RUNS changes,
min / median / max. Prints Markdown for BENCHMARKS.md.
    bench/board.py TARGET_DIR [CONNS] [RUNS]
e.g. bench/board.py target/release 1000 5   (cargo build --release -p
     mailpresence-server first). Fails when the server does not start."""
import asyncio, json, os, resource, socket, statistics, subprocess, sys, tempfile, time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def write_config(path, web_port, people):
    with open(path, "w") as f:
        f.write('[server]\naddress = "presence@example.test"\nstorage = "%s"\n' % (path + ".db"))
        # No mail servers here: the IMAP/SMTP ends point nowhere and the
        # server keeps retrying them in the background, as when offline.
        f.write('[imap]\nhost = "127.0.0.1"\nport = 1\ntls = "none"\nuser = "p"\npassword = "p"\n')
        f.write('[smtp]\nhost = "127.0.0.1"\nport = 1\ntls = "none"\n')
        f.write('[trust]\nmode = "from-header"\n')
        f.write('[web]\nlisten = "127.0.0.1:%d"\npublic_url = "http://127.0.0.1:%d"\n' % (web_port, web_port))
        f.write('trusted_proxies = ["127.0.0.1"]\nuser_header = "X-Remote-User"\nmail_sign_in = false\n')
        f.write("max_streams = %d\n" % (people + 100))
        for i in range(people):
            f.write('[[person]]\naccount = "u%d"\nmail = "u%d@example.test"\ngroups = ["desk"]\n' % (i, i))
        f.write('[[rule]]\nwatchers = ["*"]\nmay_see = ["*"]\n')


def pss_kib(pid):
    total = 0
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Pss:"):
                total += int(line.split()[1])
    return total


async def open_stream(port, user):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(("GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Remote-User: %s\r\n"
                  "Accept: text/event-stream\r\n\r\n" % user).encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError("stream refused: %r" % head[:80])
    return reader, writer


async def wait_for(reader, needle):
    seen = b""
    while needle not in seen:
        chunk = await reader.read(65536)
        if not chunk:
            raise RuntimeError("stream closed")
        seen = seen[-len(needle):] + chunk
    return time.perf_counter()


def http(port, method, path, user, body=None, csrf=None):
    s = socket.create_connection(("127.0.0.1", port))
    data = json.dumps(body).encode() if body is not None else b""
    extra = "X-CSRF-Token: %s\r\nContent-Type: application/json\r\n" % csrf if csrf else ""
    s.sendall(("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Remote-User: %s\r\nConnection: close\r\n%s"
               "Content-Length: %d\r\n\r\n" % (method, path, user, extra, len(data))).encode() + data)
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    s.close()
    head, _, body = out.partition(b"\r\n\r\n")
    if b" 200 " not in head.split(b"\r\n")[0]:
        raise RuntimeError("%s %s: %r" % (method, path, head[:80]))
    if b"chunked" in head.lower():
        # One chunk is enough for this page's size.
        size, _, rest = body.partition(b"\r\n")
        body = rest[: int(size, 16)]
    return json.loads(body) if body else None


async def measure(port, conns, runs, pid):
    before = pss_kib(pid)
    streams = []
    for i in range(conns):
        streams.append(await open_stream(port, "u%d" % i))
    await asyncio.sleep(1.0)
    after = pss_kib(pid)
    csrf = http(port, "GET", "/api/board", "u0")["csrf"]
    times = []
    states = ["meeting", "busy", "away", "on-the-phone", "available", "break"]
    for run in range(runs):
        state = states[run % len(states)]
        needle = ('"state":"%s"' % state).encode()
        waits = [asyncio.ensure_future(wait_for(r, needle)) for r, _ in streams]
        start = time.perf_counter()
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: http(port, "POST", "/api/me", "u0", {"state": state}, csrf))
        done = await asyncio.wait_for(asyncio.gather(*waits), 60)
        times.append((max(done) - start) * 1000)
        await asyncio.sleep(0.5)
    for _, w in streams:
        w.close()
    return times, before, after


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    target = sys.argv[1]
    conns = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    # A socket per board here, and one per board in the server (which inherits this).
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    binary = os.path.join(target, "mailpresence-server")
    work = tempfile.mkdtemp()
    port = free_port()
    config = os.path.join(work, "server.toml")
    write_config(config, port, conns)
    log = open(os.path.join(work, "server.log"), "w")
    server = subprocess.Popen([binary, "--config", config], stdout=log, stderr=subprocess.STDOUT,
                              env=dict(os.environ, RUST_LOG="warn"))
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if server.poll() is not None:
                    sys.exit("bench/board.py: the server did not start; see %s" % log.name)
                time.sleep(0.1)
        else:
            sys.exit("bench/board.py: the board never listened; see %s" % log.name)
        times, before, after = asyncio.run(measure(port, conns, runs, server.pid))
    finally:
        server.terminate()
        server.wait()
    per = (after - before) / conns
    print("| board on loopback, 2 cores | ours |")
    print("|---|---|")
    print("| one change on the board → %d open boards: ms to the last, min / median / max of %d | %.1f / %.1f / %.1f |"
          % (conns, runs, min(times), statistics.median(times), max(times)))
    print("| server memory (PSS) before → with %d open boards | %.1f → %.1f MiB (%.1f KiB per board) |"
          % (conns, before / 1024, after / 1024, per))


if __name__ == "__main__":
    main()
