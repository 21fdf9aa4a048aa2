#!/usr/bin/env python3
"""A desk phone for the demo: a small SIP user agent over UDP. It watches a
field worker (SUBSCRIBE, answers every NOTIFY, prints the note as the phone's
display would show it), publishes its own presence after a while (PUBLISH with
PIDF: a meeting until 15:00), and on exit unsubscribes and removes its
publication.

    desk_phone.py --server 127.0.0.1:5060 --user yamada --domain example.test \
                  --watch tanaka --publish-after 5 --duration 60
"""
import argparse
import random
import re
import socket
import sys
import time


def token():
    return "%016x" % random.getrandbits(64)


class Phone:
    def __init__(self, server, user, domain):
        host, port = server.rsplit(":", 1)
        self.server = (host, int(port))
        self.user, self.domain = user, domain
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.cseq = 0
        self.notifies = 0

    def say(self, text):
        print("[desk %s] %s" % (self.user, text), flush=True)

    def send(self, msg):
        self.sock.sendto(msg.replace("\n", "\r\n").encode("utf-8"), self.server)

    def request(self, method, target, call_id, from_tag, to_tag="", extra="", body=b"", ctype=""):
        self.cseq += 1
        head = (
            "%s sip:%s@%s SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport\nMax-Forwards: 70\n"
            "From: <sip:%s@%s>;tag=%s\nTo: <sip:%s@%s>%s\nCall-ID: %s\nCSeq: %d %s\n"
            "Contact: <sip:%s@127.0.0.1:%d>\n%s%sContent-Length: %d\n\n"
            % (method, target, self.domain, self.port, token(), self.user, self.domain, from_tag, target, self.domain,
               (";tag=" + to_tag) if to_tag else "", call_id, self.cseq, method, self.user, self.port, extra,
               ("Content-Type: %s\n" % ctype) if ctype else "", len(body))
        )
        self.sock.sendto(head.replace("\n", "\r\n").encode("utf-8") + body, self.server)

    def answer(self, text):
        headers = {}
        for line in text.split("\r\n")[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers.setdefault(k.strip().lower(), v.strip())
        ok = "SIP/2.0 200 OK\n" + "".join(
            "%s: %s\n" % (name, headers.get(name.lower(), "")) for name in ("Via", "From", "To", "Call-ID", "CSeq")
        ) + "Content-Length: 0\n\n"
        self.send(ok)
        return headers

    def pump(self, seconds, on_response=None):
        """Handles what arrives for `seconds`: NOTIFYs are answered and shown."""
        end = time.time() + seconds
        while time.time() < end:
            try:
                data, _ = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            text = data.decode("utf-8", "replace")
            if text.startswith("NOTIFY"):
                headers = self.answer(text)
                self.notifies += 1
                note = re.search(r'<note xml:lang="[a-z]+">(.*?)</note>', text)
                state = headers.get("subscription-state", "")
                if note:
                    self.say("display: %s" % note.group(1))
                elif state.startswith("terminated"):
                    self.say("subscription ended")
                else:
                    self.say("no presence yet")
            elif text.startswith("SIP/2.0") and on_response:
                on_response(text)


PIDF = """<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" xmlns:tp="urn:ietf:params:xml:ns:pidf:timed-status" entity="sip:{user}@{domain}">
 <tuple id="t1"><status><basic>open</basic></status><contact>sip:{user}@{domain}</contact><timestamp>{now}</timestamp></tuple>
 <dm:person id="p1"><rpid:activities><rpid:meeting/></rpid:activities><dm:note>部長会議</dm:note>
  <tp:timed-status from="{today}T13:00:00+09:00" until="{today}T15:00:00+09:00"><dm:note>部長会議</dm:note></tp:timed-status></dm:person>
</presence>"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--domain", required=True)
    ap.add_argument("--watch", required=True)
    ap.add_argument("--publish-after", type=float, default=5)
    ap.add_argument("--duration", type=float, default=60)
    a = ap.parse_args()
    phone = Phone(a.server, a.user, a.domain)
    sub_call, sub_tag, server_tag = "sub-" + token(), token(), {}

    def remember_tag(text):
        m = re.search(r"\r\nTo:[^\r]*;tag=([^;\r]+)", text)
        if m and "SUBSCRIBE" in text:
            server_tag["tag"] = m.group(1)

    phone.say("watching %s" % a.watch)
    phone.request("SUBSCRIBE", a.watch, sub_call, sub_tag, extra="Event: presence\nExpires: 300\n")
    phone.pump(a.publish_after, remember_tag)
    etag = {}

    def remember_etag(text):
        m = re.search(r"\r\nSIP-ETag: *([^\r]+)", text)
        if m:
            etag["e"] = m.group(1)

    now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    body = PIDF.format(user=a.user, domain=a.domain, now=now, today=time.strftime("%Y-%m-%d")).encode("utf-8")
    pub_call, pub_tag = "pub-" + token(), token()
    phone.say("publishes: 会議中（部長会議） until 15:00")
    phone.request("PUBLISH", a.user, pub_call, pub_tag, extra="Event: presence\nExpires: 600\n", body=body, ctype="application/pidf+xml")
    phone.pump(max(0.0, a.duration - a.publish_after), lambda t: (remember_tag(t), remember_etag(t)))
    # Leave cleanly: end the subscription, remove the publication.
    phone.request("SUBSCRIBE", a.watch, sub_call, sub_tag, to_tag=server_tag.get("tag", ""), extra="Event: presence\nExpires: 0\n")
    if "e" in etag:
        phone.request("PUBLISH", a.user, pub_call, pub_tag, extra="Event: presence\nExpires: 0\nSIP-If-Match: %s\n" % etag["e"])
    phone.pump(1.0)
    phone.say("hung up after %d NOTIFYs" % phone.notifies)


if __name__ == "__main__":
    sys.exit(main())
