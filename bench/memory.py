#!/usr/bin/env python3
"""Server memory at scale, ours next to Kamailio's presence module: each
server in turn gets USERS people (u0…) who all PUBLISH a status over SIP,
then each subscribes to SUBS others (USERS × SUBS SIP subscriptions, every
NOTIFY answered 200). Prints the memory the server's processes hold
(proportional set size, so Kamailio's shared memory is counted once) idle,
after the PUBLISHes and after the subscriptions. One UDP socket plays all
phones.
    bench/memory.py TARGET_DIR [USERS] [SUBS] [RUNS] [--auth]
With --auth nobody is trusted: each request is answered 401 and sent again
with the person's MD5 digest (password pw-u<i>; ours offers only MD5, as in
bench/sip.sh auth), and Kamailio checks the same with its auth module.
e.g. bench/memory.py target/release 10000 10 3   (build with
     cargo build --release -p mailpresence-server first; Kamailio from
     Debian's kamailio and kamailio-presence-modules, as bench/sip.sh installs)."""
import os, select, shutil, socket, statistics, subprocess, sys, tempfile, time

import sipbench

DOMAIN = "example.test"


def write_config(path, port, users, auth):
    with open(path, "w") as f:
        f.write('[server]\naddress = "presence@example.test"\nstorage = "%s"\n' % (path + ".db"))
        # No mail servers in this benchmark: the IMAP/SMTP ends point nowhere and
        # the server keeps retrying them in the background, as when offline.
        f.write('[imap]\nhost = "127.0.0.1"\nport = 1\ntls = "none"\nuser = "p"\npassword = "p"\n')
        f.write('[smtp]\nhost = "127.0.0.1"\nport = 1\ntls = "none"\n')
        # Required since the sender proof (a server without it does not start).
        f.write('[trust]\nmode = "from-header"\n')
        f.write('[sip]\nlisten = "127.0.0.1:%d"\ndomain = "%s"\n' % (port, DOMAIN))
        if auth:
            f.write('trusted_networks = []\ndigest_algorithms = ["MD5"]\n')
        else:
            f.write('trusted_networks = ["127.0.0.0/8"]\ntrusted_over_udp = true\n')
        for i in range(users):
            f.write('[[person]]\naccount = "u%d"\nsip = "sip:u%d@%s"\n' % (i, i, DOMAIN))
            if auth:
                f.write('sip_password = "pw-u%d"\n' % i)
        f.write('[[rule]]\nwatchers = ["*"]\nmay_see = ["*"]\n')


def family(pid):
    """pid and all its descendants (Kamailio forks its workers)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def pss_kib(pid):
    total = 0
    for p in family(pid):
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


class Phones:
    """All simulated SIP phones, behind one UDP socket. Like phones on UDP
    they send a request again while it is unanswered (RFC 3261 timer E: after
    0.5 s, doubling up to 4 s, for about 30 s), so a datagram dropped by a
    full socket buffer costs time, not a phone."""

    def __init__(self, server, auth):
        self.server = server
        # Call-ID → the request, to send again with credentials after a 401.
        self.sent = {} if auth else None
        self.challenged = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.ok = 0
        self.notifies = 0
        self.failures = 0
        # (Call-ID, CSeq) → [request, when to send it again, interval, sends].
        self.unanswered = {}
        self.retransmissions = 0
        self.next_check = 0.0

    def send(self, text):
        self.sock.sendto(text.encode(), self.server)

    def retransmit(self):
        now = time.time()
        if now < self.next_check:
            return
        self.next_check = now + 0.05
        for key, r in list(self.unanswered.items()):
            if r[1] > now:
                continue
            if r[3] >= 10:  # about 32 s (timer F): the request is lost
                del self.unanswered[key]
                continue
            self.send(r[0])
            r[1], r[2], r[3] = now + min(r[2] * 2, 4.0), min(r[2] * 2, 4.0), r[3] + 1
            self.retransmissions += 1

    def answered(self, text):
        """Whether this answer is the first to its request (not one to a
        retransmission)."""
        hs = sipbench.headers(text)
        cseq = hs.get("cseq", "").split()
        return self.unanswered.pop((hs.get("call-id"), cseq[0] if cseq else ""), None) is not None

    def request(self, method, user, target, call_id, extra, body="", cseq=1):
        if self.sent is not None and cseq == 1:
            self.sent[call_id] = (method, user, target, extra, body)
        text = ("%s sip:%s@%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s-%d;rport\r\n"
                "Max-Forwards: 70\r\nFrom: <sip:%s@%s>;tag=t%s\r\nTo: <sip:%s@%s>\r\nCall-ID: %s\r\n"
                "CSeq: %d %s\r\nContact: <sip:%s@127.0.0.1:%d>\r\nEvent: presence\r\nExpires: 3600\r\n%s"
                "Content-Length: %d\r\n\r\n%s"
                % (method, target, DOMAIN, self.port, call_id, cseq, user, DOMAIN, call_id, target, DOMAIN,
                   call_id, cseq, method, user, self.port, extra, len(body.encode()), body))
        self.unanswered[(call_id, str(cseq))] = [text, time.time() + 0.5, 0.5, 1]
        self.send(text)

    def authenticate(self, text):
        """Sends a challenged request again with the person's digest."""
        call_id = sipbench.headers(text).get("call-id")
        if self.sent is None or call_id not in self.sent:
            return False
        method, user, target, extra, body = self.sent.pop(call_id)
        auth = sipbench.authorization(sipbench.md5_challenge(text), method, "sip:%s@%s" % (target, DOMAIN),
                                      user, "pw-" + user)
        self.request(method, user, target, call_id, extra + "Authorization: %s\r\n" % auth, body, cseq=2)
        self.challenged += 1
        return True

    def answer_notify(self, text):
        headers = {}
        for line in text.split("\r\n")[1:]:
            if not line:
                break
            k, _, v = line.partition(":")
            headers.setdefault(k.strip().lower(), v.strip())
        self.send("SIP/2.0 200 OK\r\n" + "".join(
            "%s: %s\r\n" % (k, headers.get(k.lower(), "")) for k in ("Via", "From", "To", "Call-ID", "CSeq"))
            + "Content-Length: 0\r\n\r\n")

    def drain(self, seconds):
        until = time.time() + seconds
        while time.time() < until:
            self.retransmit()
            r, _, _ = select.select([self.sock], [], [], 0.02)
            if not r:
                continue
            while True:
                try:
                    data, _ = self.sock.recvfrom(65535)
                except BlockingIOError:
                    break
                text = data.decode("utf-8", "replace")
                if text.startswith("NOTIFY"):
                    self.notifies += 1
                    self.answer_notify(text)
                elif not text.startswith("SIP/2.0 1") and not self.answered(text):
                    pass
                elif text.startswith("SIP/2.0 2"):
                    self.ok += 1
                elif text.startswith("SIP/2.0 401") and self.authenticate(text):
                    pass
                elif text.startswith("SIP/2.0 1"):
                    pass
                elif text.startswith("SIP/2.0"):
                    self.failures += 1

    def wait_for(self, ok, notifies, seconds):
        until = time.time() + seconds
        while time.time() < until and (self.ok < ok or self.notifies < notifies):
            self.drain(0.1)


def pidf(user, i):
    return ('<?xml version="1.0" encoding="UTF-8"?><presence xmlns="urn:ietf:params:xml:ns:pidf" '
            'entity="sip:%s@%s"><tuple id="t%d"><status><basic>open</basic></status>'
            '<note>在席（内線 %d）</note></tuple></presence>' % (user, DOMAIN, i, 2000 + i))


def start_ours(target, work, port, users, auth):
    config = os.path.join(work, "server.toml")
    write_config(config, port, users, auth)
    env = dict(os.environ, RUST_LOG="error")
    return subprocess.Popen([os.path.join(target, "mailpresence-server"), "--config", config], env=env,
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "ours.log"), "w"))


def start_kamailio(work, port, users, auth):
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "kamailio-presence.cfg")) as f:
        cfg = f.read().replace("25060", str(port))
    path = os.path.join(work, "kamailio.cfg")
    with open(path, "w") as f:
        f.write(cfg)
    # 1 GiB may be used, as in bench/sip.sh; only touched pages count below.
    # With auth, the passwords of exactly the people ours has (no watchers w…).
    defines = ["-A", "WITH_AUTH", "-A", "AUTH_USERS=%d" % users, "-A", "AUTH_WATCHERS=0"] if auth else []
    return subprocess.Popen(["kamailio", "-f", path, "-P", os.path.join(work, "kam.pid"), "-m", "1024",
                             "-M", "16", "-DD", "-E"] + defines, stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(work, "kam.log"), "w"))


def measure(server, port, users, subs, auth):
    """Runs the load against a started server; returns the figures."""
    # Started means answering; a server that is not there fails the run.
    if not sipbench.ping(("127.0.0.1", port), "udp", 30) or server.poll() is not None:
        sys.exit("memory.py: the server on port %d did not start" % port)
    time.sleep(1)
    fig = {"idle": pss_kib(server.pid)}
    phones = Phones(("127.0.0.1", port), auth)
    for i in range(users):
        phones.request("PUBLISH", "u%d" % i, "u%d" % i, "p%d" % i,
                       "Content-Type: application/pidf+xml\r\n", pidf("u%d" % i, i))
        if i % 200 == 199:
            phones.wait_for(i + 1 - 200, 0, 10)
    phones.wait_for(users, 0, 30)
    fig["published"] = phones.ok
    fig["after_publish"] = pss_kib(server.pid)
    t0, n = time.time(), 0
    for i in range(users):
        for k in range(1, subs + 1):
            phones.request("SUBSCRIBE", "u%d" % i, "u%d" % ((i + k) % users), "s%d-%d" % (i, k), "")
            n += 1
            if n % 200 == 0:
                phones.wait_for(fig["published"] + n - 200, n - 200, 10)
    phones.wait_for(fig["published"] + n, n, 60)
    fig["took"] = time.time() - t0
    phones.drain(2)
    fig["subscribed"] = phones.ok - fig["published"]
    fig["notifies"] = phones.notifies
    fig["failures"] = phones.failures
    fig["challenged"] = phones.challenged
    fig["retransmissions"] = phones.retransmissions
    fig["after_subscribe"] = pss_kib(server.pid)
    if server.poll() is not None:
        sys.exit("memory.py: the server on port %d died during the run" % port)
    return fig


def run(start, port, users, subs, auth):
    server = start()
    try:
        return measure(server, port, users, subs, auth)
    finally:
        server.terminate()
        server.wait()


def spread(values, fmt):
    """min / median / max of several runs."""
    v = sorted(values)
    return " / ".join(fmt(x) for x in (v[0], statistics.median(v), v[-1]))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    auth = "--auth" in sys.argv
    sys.argv = [a for a in sys.argv if a != "--auth"]
    target = sys.argv[1]
    if not shutil.which("kamailio"):
        sys.exit("memory.py: kamailio is not installed; run bench/sip.sh once (it installs "
                 "kamailio and kamailio-presence-modules) or apt-get install them")
    if not os.path.exists(os.path.join(target, "mailpresence-server")):
        sys.exit("memory.py: no %s/mailpresence-server; run cargo build --release -p mailpresence-server" % target)
    users = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    subs = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    ours, kam = [], []
    for r in range(runs):
        work = tempfile.mkdtemp()
        print("run %d of %d …" % (r + 1, runs), file=sys.stderr)
        try:
            ours.append(run(lambda: start_ours(target, work, 27060, users, auth), 27060, users, subs, auth))
            kam.append(run(lambda: start_kamailio(work, 27070, users, auth), 27070, users, subs, auth))
        except SystemExit:
            print("memory.py: logs in %s" % work, file=sys.stderr)
            raise
        shutil.rmtree(work)
    mib = lambda kib: "%.1f" % (kib / 1024)
    cnt = lambda n: format(int(n), ",")
    col = lambda figs, key, fmt: spread([f[key] for f in figs], fmt)
    ratio = lambda key: "%.2f ×" % (statistics.median([f[key] for f in ours]) / statistics.median([f[key] for f in kam]))
    print("| %s people, %s SIP subscriptions%s; min / median / max of %d runs | ours | Kamailio presence%s (4 UDP workers) | ours ÷ Kamailio (medians) |"
          % (cnt(users), cnt(users * subs), ", digest auth (MD5) on every request" if auth else "", runs,
             " + auth" if auth else ""))
    print("|---|---|---|---|")
    for label, key in (("memory (MiB), started and idle", "idle"),
                       ("memory (MiB) after %s PUBLISHes" % cnt(users), "after_publish"),
                       ("memory (MiB) after %s SUBSCRIBEs" % cnt(users * subs), "after_subscribe")):
        print("| %s | %s | %s | %s |" % (label, col(ours, key, mib), col(kam, key, mib), ratio(key)))
    for label, key in (("PUBLISHes answered 2xx", "published"), ("SUBSCRIBEs answered 2xx", "subscribed"),
                       ("NOTIFYs received", "notifies"), ("other answers (errors)", "failures"),
                       ("requests sent again, unanswered after 0.5 s or more", "retransmissions")) + (
                          (("401 challenges answered", "challenged"),) if auth else ()):
        print("| %s | %s | %s | |" % (label, col(ours, key, cnt), col(kam, key, cnt)))
    print("| seconds to subscribe everyone | %s | %s | |"
          % (col(ours, "took", lambda x: "%.1f" % x), col(kam, "took", lambda x: "%.1f" % x)))


if __name__ == "__main__":
    main()
