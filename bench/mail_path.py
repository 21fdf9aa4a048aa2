#!/usr/bin/env python3
"""The mail path of the presence server, on real Dovecot and Postfix
(scripts/mail-servers.sh must be running; its `export` lines in the env):

1. throughput: N Publish mails put straight into the presence mailbox (IMAP
   APPEND), then the server started; presence mails handled per second, with
   a watcher per publisher so that every Publish also queues a Notify;
2. field Publish (SMTP → Postfix → Dovecot → server) → desk NOTIFY (SIP): ms;
3. desk PUBLISH (SIP) → Notify mail seen by the phone core in IMAP IDLE
   (`mailpresence watch`): ms.

    bench/mail_path.py TARGET_DIR [N] [ROUNDS]

MAILPRESENCE_BENCH_PROFILE=DIR: the throughput step only, and where its time
goes: the CPU seconds of each process (the server, Dovecot's, Postfix's,
OpenDKIM, this script's status polls) over the step, and a `perf record`
(cpu-clock samples, as the machine has no hardware counters) of the server
written to DIR with its report. Build the server with symbols for the report:
CARGO_PROFILE_RELEASE_STRIP=none cargo build --release -p mailpresence-server.
"""
import imaplib, json, os, re, smtplib, socket, statistics, subprocess, sys, tempfile, time, urllib.request

BIN = sys.argv[1]
N = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
ROUNDS = int(sys.argv[3]) if len(sys.argv) > 3 else 20
E = os.environ
IMAP, SMTP, SUB = int(E["MAILPRESENCE_IMAP_PORT"]), int(E["MAILPRESENCE_SMTP_PORT"]), int(E["MAILPRESENCE_SUBMISSION_PORT"])
CA = E["MAILPRESENCE_MAIL_CA"]
TAG = "%06x" % (int(time.time() * 1000) % 0xFFFFFF)
D = "example.test"
PRESENCE = "presence.%s@%s" % (TAG, D)


def mail(who):
    return "%s.%s@%s" % (who, TAG, D)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def server_config(work, sip_port, publishers, metrics_port=None):
    path = os.path.join(work, "server.toml")
    with open(path, "w") as f:
        f.write('[server]\naddress = "%s"\nstorage = "%s/p.db"\n' % (PRESENCE, work))
        if metrics_port:
            f.write('[metrics]\nlisten = "127.0.0.1:%d"\n' % metrics_port)
        f.write('[imap]\nhost = "127.0.0.1"\nport = %d\ntls = "none"\nuser = "%s"\npassword = "secret"\n' % (IMAP, PRESENCE))
        # Notify mails go through submission, where they are signed: the phone
        # believes only what the mail system proved.
        f.write('[smtp]\nhost = "127.0.0.1"\nport = %d\ntls = "starttls"\nuser = "%s"\npassword = "secret"\nca_file = "%s"\nmax_per_second = 1000\n' % (SUB, PRESENCE, CA))
        # The mails are injected unsigned on the inbound port, many per sender:
        # the From header is trusted here and the hourly limit lifted, so that
        # intake itself is measured (the Authentication-Results check it skips
        # is one header parse).
        f.write('[trust]\nmode = "from-header"\n')
        f.write('[presence]\nsender_mails_per_hour = 100000000\nnotify_interval_secs = 1\n[sip]\nlisten = "127.0.0.1:%d"\ndomain = "%s"\ntrusted_networks = ["127.0.0.0/8"]\ntrusted_over_udp = true\n' % (sip_port, D))
        for who in publishers + ["watcher", "tanaka", "yamada"]:
            f.write('[[person]]\naccount = "%s"\nmail = "%s"\nsip = "sip:%s@%s"\n' % (who, mail(who), who, D))
        f.write('[[rule]]\nwatchers = ["*"]\nmay_see = ["*"]\nlocation = true\n')
    return path


def compose(kind, frm, **tags):
    args = [os.path.join(BIN, "mailpresence"), "compose", kind, "--from", frm, "--to", PRESENCE]
    for k, v in tags.items():
        flag = "--" + k.replace("_", "-")
        if v is None:
            args.append(flag)
            continue
        for value in (v if isinstance(v, list) else [v]):
            args += [flag, value]
    return subprocess.run(args, check=True, capture_output=True).stdout


def status(cfg):
    out = subprocess.run([os.path.join(BIN, "mailpresence-server"), "--config", cfg, "--status"], capture_output=True, text=True)
    return json.loads(out.stdout) if out.returncode == 0 else {}


def handled_per_metrics(port):
    """Presence mails this run of the server handled, from its /metrics (an
    HTTP request: far cheaper than a `--status` process every 10 ms, which
    took a quarter of the machine's busy time in the profile)."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return 0
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("mailpresence_mails_total")))


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def start_server(cfg, work):
    log = open(os.path.join(work, "server.log"), "a")
    proc = subprocess.Popen([os.path.join(BIN, "mailpresence-server"), "--config", cfg], stdout=log, stderr=log, env=dict(E, RUST_LOG="warn"))
    return proc


PROFILE = E.get("MAILPRESENCE_BENCH_PROFILE")


def cpu_by_program():
    """CPU seconds each program has used, its reaped children included
    (Dovecot's and Postfix's masters reap their short-lived workers, this
    script reaps its status polls)."""
    tick = os.sysconf("SC_CLK_TCK")
    seconds = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        # utime, stime, cutime, cstime: fields 14-17 of proc(5).
        used = sum(int(x) for x in fields[11:15]) / tick
        seconds[pid] = (name, used)
    return seconds


def machine_busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4], sum(v)  # busy (not idle, not iowait), all


def report_cpu(before, after, busy0, busy1, elapsed):
    by_name = {}
    for pid, (name, used) in after.items():
        # A process that started during the step counts from zero. By pid:
        # a kernel worker's name changes with the work it does.
        name = name.split("/")[0] if name.startswith("kworker") else name
        by_name[name] = by_name.get(name, 0) + used - before.get(pid, ("", 0))[1]
    tick = os.sysconf("SC_CLK_TCK")
    busy = (busy1[0] - busy0[0]) / tick
    total = (busy1[1] - busy0[1]) / tick
    print("profile: %.2f s wall; both cores busy %.2f of %.2f CPU-seconds (%.0f %%)" % (elapsed, busy, total, 100 * busy / max(total, 1e-9)))
    for name, used in sorted(by_name.items(), key=lambda x: -x[1]):
        if used >= 0.01:
            print("profile:   %-20s %6.2f CPU-s (%4.1f %% of the busy time)" % (name, used, 100 * used / max(busy, 1e-9)))


def throughput(work):
    publishers = ["u%d" % i for i in range(100)]
    sip_port, metrics_port = free_port(), free_port()
    cfg = server_config(work, sip_port, publishers, metrics_port)
    # A watch for every publisher, so each Publish queues a Notify too.
    imap = imaplib.IMAP4("127.0.0.1", IMAP)
    imap.login(PRESENCE, "secret")
    imap.append("INBOX", None, None, compose("subscribe", mail("watcher"), watcher="watcher", notifier=publishers, mode="watch", expires="3600"))
    template = {p: compose("publish", mail(p), publisher=p, activity="on-site — 設備点検 #N", no_updated=None) for p in publishers[:1]}
    raw = template[publishers[0]].decode()
    for i in range(N):
        who = publishers[i % len(publishers)]
        msg = raw.replace(mail(publishers[0]), mail(who)).replace("Publisher: %s" % publishers[0], "Publisher: %s" % who)
        msg = re.sub(r"Message-ID: <[^>]+>", "Message-ID: <bench%d.%s@%s>" % (i, TAG, D), msg)
        imap.append("INBOX", None, None, msg.encode())
    imap.logout()
    if PROFILE:
        before, busy0 = cpu_by_program(), machine_busy()
    t0 = time.time()
    proc = start_server(cfg, work)
    perf = None
    if PROFILE:
        os.makedirs(PROFILE, exist_ok=True)
        perf = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "2000", "-g", "-p", str(proc.pid), "-o", os.path.join(PROFILE, "intake.perf")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while handled_per_metrics(metrics_port) < N + 1 and time.time() - t0 < 300:
        # Fine polling: the whole batch takes a few seconds.
        time.sleep(0.01)
    elapsed = time.time() - t0
    if PROFILE:
        after, busy1 = cpu_by_program(), machine_busy()
    handled = status(cfg).get("mails_handled", 0)
    if perf:
        perf.send_signal(2)
        perf.wait()
    proc.terminate()
    proc.wait()
    if PROFILE:
        report_cpu(before, after, busy0, busy1, elapsed)
        with open(os.path.join(PROFILE, "intake.report"), "w") as f:
            subprocess.run(["perf", "report", "--stdio", "--no-children", "-g", "none", "--percent-limit", "0.5", "--sort", "dso,sym", "-i", os.path.join(PROFILE, "intake.perf")],
                           stdout=f, stderr=subprocess.DEVNULL)
        print("profile: perf report of the server in %s/intake.report" % PROFILE)
    return handled, elapsed


def latencies(work):
    # free_port() can race with another program taking the port before the
    # server binds it; the server then exits at once, so try another port.
    for _ in range(5):
        sip_port = free_port()
        cfg = server_config(work, sip_port, [])
        proc = start_server(cfg, work)
        time.sleep(1.5)
        if proc.poll() is None:
            break
    else:
        sys.exit("mail_path.py: the server would not start; see %s/server.log" % work)
    # The desk phone: a UDP watcher of tanaka that answers NOTIFYs.
    desk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    desk.bind(("127.0.0.1", 0))
    desk.settimeout(10)
    port = desk.getsockname()[1]
    def sip(method, user, target, extra, body=b"", ctype=""):
        head = ("%s sip:%s@%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%x;rport\r\nFrom: <sip:%s@%s>;tag=%s\r\nTo: <sip:%s@%s>\r\n"
                "Call-ID: %s-%x\r\nCSeq: 1 %s\r\nContact: <sip:%s@127.0.0.1:%d>\r\nEvent: presence\r\n%s%sContent-Length: %d\r\n\r\n"
                % (method, target, D, port, int(time.time() * 1e6), user, D, user, target, D, method, int(time.time() * 1e6), method, user, port, extra,
                   ("Content-Type: %s\r\n" % ctype) if ctype else "", len(body)))
        desk.sendto(head.encode() + body, ("127.0.0.1", sip_port))
    def answer_notify():
        while True:
            data = desk.recv(65535).decode("utf-8", "replace")
            if data.startswith("NOTIFY"):
                hs = {}
                for line in data.split("\r\n")[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1); hs.setdefault(k.strip().lower(), v.strip())
                ok = "SIP/2.0 200 OK\r\n" + "".join("%s: %s\r\n" % (k, hs.get(k.lower(), "")) for k in ("Via", "From", "To", "Call-ID", "CSeq")) + "Content-Length: 0\r\n\r\n"
                desk.sendto(ok.encode(), ("127.0.0.1", sip_port))
                return data
    sip("SUBSCRIBE", "yamada", "tanaka", "Expires: 3600\r\n")
    answer_notify()
    # The inbound port takes tanaka's address as envelope sender only from
    # tanaka's login.
    smtp = smtplib.SMTP("127.0.0.1", SMTP)
    smtp.login(mail("tanaka"), "secret")
    field_to_desk = []
    for i in range(ROUNDS):
        raw = compose("publish", mail("tanaka"), publisher="tanaka", activity="on-site — round %d" % i)
        t0 = time.time()
        smtp.sendmail(mail("tanaka"), [PRESENCE], raw)
        while "round %d" % i not in answer_notify():
            pass
        field_to_desk.append((time.time() - t0) * 1000)
        time.sleep(1.1)
    smtp.quit()
    # The phone core watching yamada over IMAP IDLE.
    account = os.path.join(work, "tanaka.toml")
    with open(account, "w") as f:
        f.write('account = "tanaka"\nmail = "%s"\npresence_server = "%s"\nauthserv_id = "%s"\n' % (mail("tanaka"), PRESENCE, E["MAILPRESENCE_AUTHSERV_ID"]))
        for svc, p in (("imap", IMAP), ("smtp", SUB)):
            f.write('[%s]\nhost = "127.0.0.1"\nport = %d\ntls = "starttls"\nuser = "%s"\npassword = "secret"\nca_file = "%s"\n' % (svc, p, mail("tanaka"), CA))
    watch = subprocess.Popen([os.path.join(BIN, "mailpresence"), "watch", "yamada", "--config", account, "--count", str(ROUNDS + 1), "--for", "300"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    desk_to_field = []
    body = lambda i: ('<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" entity="sip:yamada@%s">'
                      '<tuple id="a"><status><basic>open</basic></status></tuple><dm:person id="p"><dm:note>desk %d</dm:note></dm:person></presence>' % (D, i)).encode()
    sip("PUBLISH", "yamada", "yamada", "Expires: 3600\r\n", body(-1), "application/pidf+xml")
    while "desk -1" not in watch.stdout.readline():
        pass
    for i in range(ROUNDS):
        time.sleep(1.1)
        t0 = time.time()
        sip("PUBLISH", "yamada", "yamada", "Expires: 3600\r\n", body(i), "application/pidf+xml")
        while "desk %d" % i not in watch.stdout.readline():
            pass
        desk_to_field.append((time.time() - t0) * 1000)
    watch.terminate()
    proc.terminate()
    proc.wait()
    return field_to_desk, desk_to_field


def main():
    work = tempfile.mkdtemp(prefix="mailpresence-bench-")
    handled, elapsed = throughput(work)
    print("throughput: %d presence mails handled in %.2f s = %.0f mails/s" % (handled, elapsed, handled / elapsed))
    if PROFILE:
        return
    f2d, d2f = latencies(work)
    for name, v in (("field Publish mail -> desk NOTIFY", f2d), ("desk PUBLISH -> Notify mail seen in IDLE", d2f)):
        print("latency %s: p50 %.0f ms, p99 %.0f ms, min %.0f, max %.0f (%d rounds)" % (name, statistics.median(v), pct(v, 99), min(v), max(v), len(v)))


if __name__ == "__main__":
    main()
