#!/usr/bin/env python3
"""Writes the golden mails and their expected outcomes.

The mails are shaped like what real phones and mailers send (iPhone Mail,
Outlook, a Japanese feature phone, vacation responders, bounces). Charset and
transfer encodings are done here by Python's codecs, independently of the Rust
code under test. Run it again only to add mails; the files are committed.
malformed-mime-that-panics-mail-parser.eml is not made here: the fuzzer found
it (it made mail-parser 0.11 panic) and it is kept as found.

    python3 protocol/tests/golden/make_golden.py
"""
import base64
import json
import os
import quopri
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))

SPEC_BODY = """Publisher: tanaka
Contact: tanaka@example.co.jp
Activity: on-site — 設備点検中
Location: 東京都千代田区丸の内一丁目
Schedule: 15:00 帰社予定
Updated: 2026-11-26T13:05:00+09:00
"""

SPEC_EXPECT = {
    "kind": "publish",
    "publisher": "tanaka",
    "contact": "tanaka@example.co.jp",
    "activity": {"token": "on-site", "text": "設備点検中"},
    "location": "東京都千代田区丸の内一丁目",
    "schedule": [{"start": "15:00", "end": None, "text": "帰社予定"}],
    "updated": "2026-11-26T13:05:00+09:00",
    "coordinates": None,
}


def headers(subject, frm="Tanaka <tanaka@example.co.jp>", to="presence@example.co.jp", extra=()):
    h = [
        "Return-Path: <%s>" % frm.split("<")[-1].rstrip(">"),
        "From: " + frm,
        "To: " + to,
        "Subject: " + subject,
        "Date: Thu, 26 Nov 2026 13:05:10 +0900",
        "Message-ID: <%s@golden.example.co.jp>" % zlib.crc32((subject + frm + str(extra)).encode()),
        "MIME-Version: 1.0",
    ]
    h.extend(extra)
    return "\r\n".join(h) + "\r\n"


def encode_body(text, charset, cte):
    if charset.lower().replace("_", "-") in ("iso-2022-jp", "shift-jis", "euc-jp"):
        # JIS X 0208 has no U+2014; Japanese mailers send its dash, read as U+2015.
        text = text.replace("\u2014", "\u2015")
    raw = text.replace("\n", "\r\n").encode(charset)
    if cte == "base64":
        b = base64.encodebytes(raw).replace(b"\n", b"\r\n")
    elif cte == "quoted-printable":
        b = quopri.encodestring(raw).replace(b"\n", b"\r\n")
    else:
        b = raw
    return b


def single(subject, text, charset="utf-8", cte="8bit", ctype="text/plain", extra=(), frm=None):
    h = headers(subject, extra=extra, **({"frm": frm} if frm else {}))
    h += "Content-Type: %s; charset=%s\r\nContent-Transfer-Encoding: %s\r\n\r\n" % (ctype, charset, cte)
    return h.encode("ascii") + encode_body(text, charset, cte)


def write(name, raw, expect):
    with open(os.path.join(HERE, name + ".eml"), "wb") as f:
        f.write(raw)
    with open(os.path.join(HERE, name + ".expect.json"), "w", encoding="utf-8") as f:
        json.dump(expect, f, ensure_ascii=False, indent=1)
        f.write("\n")


def presence(message):
    return {"outcome": "presence", "message": message}


def main():
    # The example of mail-protocol.md, as written there (8bit UTF-8).
    write("publish-spec-example-utf8-8bit", single("Publish", SPEC_BODY), presence(SPEC_EXPECT))

    # Every Japanese charset in both transfer encodings.
    for charset, label in [("utf-8", "utf8"), ("iso-2022-jp", "iso2022jp"),
                           ("shift_jis", "sjis"), ("euc-jp", "eucjp")]:
        for cte, short in [("quoted-printable", "qp"), ("base64", "b64")]:
            write("publish-%s-%s" % (label, short), single("Publish", SPEC_BODY, charset, cte),
                  presence(SPEC_EXPECT))

    # iPhone Mail: quoted-printable UTF-8, its signature, a lower-case subject.
    iphone = SPEC_BODY + "\niPhoneから送信\n"
    write("publish-iphone-mail", single("publish", iphone, "utf-8", "quoted-printable",
          extra=("X-Mailer: iPhone Mail (22B91)",)), presence(SPEC_EXPECT))
    iphone_en = SPEC_BODY.replace("Schedule", "schedule") + "\nSent from my iPhone\n"
    write("publish-iphone-mail-en", single("Publish", iphone_en, "utf-8", "quoted-printable"),
          presence(SPEC_EXPECT))

    # A Japanese feature phone (ガラケー): ISO-2022-JP 7bit, full-width colons typed
    # by hand, no Updated, a signature delimiter and a carrier footer below it.
    garake = ("Publisher：suzuki\nContact：suzuki@ezweb.example.jp\nActivity：運転中 客先へ移動\n"
              "Location：岐阜県岐阜市\nSchedule：16:30 戻り\n-- \n鈴木\n")
    write("publish-feature-phone-iso2022jp", single("Publish", garake, "iso-2022-jp", "7bit",
          frm="=?ISO-2022-JP?B?GyRCTmtMWhsoQg==?= <suzuki@ezweb.example.jp>",
          extra=("X-Mailer: KDDI-CA3C",)),
          presence({"kind": "publish", "publisher": "suzuki", "contact": "suzuki@ezweb.example.jp",
                    "activity": {"token": None, "text": "運転中 客先へ移動"},
                    "location": "岐阜県岐阜市", "schedule": [{"start": "16:30", "end": None, "text": "戻り"}],
                    "updated": None, "coordinates": None}))

    # Outlook: multipart/alternative, HTML beside the plain part, a Subscribe
    # with a watch, repeated and comma-separated Notifiers and the `Send to` alias.
    sub_text = ("Watcher: sato\nNotifier: tanaka\nNotifier: suzuki, takahashi\n"
                "Send to: sato@example.co.jp\nMode: watch\nExpires: 3600\n\n佐藤\n")
    sub_html = ("<html><body><p>Watcher: sato<br>Notifier: tanaka<br>Notifier: suzuki, takahashi<br>"
                "Send to: sato@example.co.jp<br>Mode: watch<br>Expires: 3600</p><p>佐藤</p></body></html>")
    boundary = "_000_TYAPR01MB0001_"
    h = headers("Subscribe", frm="=?utf-8?B?5L2Q6Jek?= <sato@example.co.jp>",
                extra=("Thread-Topic: Subscribe", "Thread-Index: AdtAbCdEfGh==",
                       "X-MS-Has-Attach:", "Content-Language: ja-JP",
                       'Content-Type: multipart/alternative; boundary="%s"' % boundary))
    raw = h.encode() + b"\r\n--" + boundary.encode() + b"\r\n"
    raw += b"Content-Type: text/plain; charset=\"iso-2022-jp\"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
    raw += encode_body(sub_text, "iso-2022-jp", "7bit")
    raw += b"\r\n--" + boundary.encode() + b"\r\n"
    raw += b"Content-Type: text/html; charset=\"utf-8\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    raw += encode_body(sub_html, "utf-8", "base64")
    raw += b"\r\n--" + boundary.encode() + b"--\r\n"
    sub_expect = {"kind": "subscribe", "watcher": "sato", "notifiers": ["tanaka", "suzuki", "takahashi"],
                  "send_to": "sato@example.co.jp", "mode": "watch", "expires": 3600}
    write("subscribe-outlook-alternative", raw, presence(sub_expect))

    # HTML only (some webmail): the tags are in the rendered text.
    write("subscribe-html-only", single("Subscribe", sub_html, "utf-8", "quoted-printable",
          ctype="text/html", frm="sato@example.co.jp"), presence(sub_expect))

    # A plain once-Subscribe, Shift_JIS base64 (an older Android mailer).
    once = "Watcher: sato\nNotifier: tanaka\nSendTo: sato@example.co.jp\n"
    write("subscribe-once-sjis-b64", single("Subscribe", once, "shift_jis", "base64"),
          presence({"kind": "subscribe", "watcher": "sato", "notifiers": ["tanaka"],
                    "send_to": "sato@example.co.jp", "mode": "once", "expires": None}))

    # A Notify as the server sends it, read by the phone: Auto-Submitted is fine here.
    notify = ("Notifier: yamada\nContact: sip:yamada@pbx.example.co.jp\nActivity: meeting — 部長会議\n"
              "Schedule: 13:00-15:00 部長会議\nSchedule: 15:00 在席予定\n"
              "Updated: 2026-11-26T12:58:00+09:00\n")
    write("notify-from-server", single("Notify", notify, "utf-8", "base64", frm="presence@example.co.jp",
          extra=("Auto-Submitted: auto-replied", "In-Reply-To: <sub-1@example.co.jp>",
                 "References: <sub-1@example.co.jp>")),
          presence({"kind": "notify", "notifier": "yamada", "contact": "sip:yamada@pbx.example.co.jp",
                    "activity": {"token": "meeting", "text": "部長会議"}, "location": None,
                    "schedule": [{"start": "13:00", "end": "15:00", "text": "部長会議"},
                                 {"start": "15:00", "end": None, "text": "在席予定"}],
                    "updated": "2026-11-26T12:58:00+09:00", "coordinates": None}))

    # A Publish with coordinates and a reply quoted below (tags end at '>').
    quoted = ("Publisher: tanaka\nContact: tel:+81-90-1234-5678\nActivity: break\n"
              "Coordinates: 35.681236,139.767125;u=12.5\n\n"
              "2026年11月26日 12:00 presence <presence@example.co.jp>:\n"
              "> Notifier: yamada\n> Activity: busy\n")
    write("publish-with-quoted-reply", single("Publish", quoted, "utf-8", "quoted-printable"),
          presence({"kind": "publish", "publisher": "tanaka", "contact": "tel:+81-90-1234-5678",
                    "activity": {"token": "break", "text": None}, "location": None, "schedule": [],
                    "updated": None,
                    "coordinates": {"lat": 35.681236, "lon": 139.767125, "uncertainty_m": 12.5}}))

    # An encoded-word Subject that decodes to the keyword.
    write("publish-encoded-subject", single("=?UTF-8?B?UHVibGlzaA==?=", SPEC_BODY, "utf-8", "base64"),
          presence(SPEC_EXPECT))

    # Tags plus a PIDF part: the tags win, the PIDF fills what they leave out.
    pidf = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<presence xmlns="urn:ietf:params:xml:ns:pidf" '
            'xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" '
            'xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" '
            'xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10" '
            'xmlns:ca="urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr" '
            'entity="sip:tanaka@example.co.jp">\n'
            ' <tuple id="a1"><status><basic>open</basic><gp:geopriv><gp:location-info>'
            '<ca:civicAddress><ca:country>JP</ca:country><ca:A1>京都府</ca:A1><ca:A2>京都市</ca:A2>'
            '<ca:A3>北区</ca:A3></ca:civicAddress></gp:location-info></gp:geopriv></status>'
            '<contact>mailto:other@example.co.jp</contact></tuple>\n'
            ' <dm:person id="p"><rpid:activities><rpid:busy/></rpid:activities></dm:person>\n'
            '</presence>\n')
    tags = "Publisher: tanaka\nContact: tanaka@example.co.jp\nActivity: on-site\n"
    b = "mp-pidf-1"
    h = headers("Publish", extra=('Content-Type: multipart/mixed; boundary="%s"' % b,))
    raw = (h + "\r\n--%s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n--%s\r\n"
           "Content-Type: application/pidf+xml; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           % (b, tags.replace("\n", "\r\n"), b)).encode()
    raw += encode_body(pidf, "utf-8", "base64") + ("\r\n--%s--\r\n" % b).encode()
    write("publish-with-pidf-part", raw,
          presence({"kind": "publish", "publisher": "tanaka", "contact": "tanaka@example.co.jp",
                    "activity": {"token": "on-site", "text": None}, "location": "京都府京都市北区",
                    "schedule": [], "updated": None, "coordinates": None,
                    "address": {"country": "JP", "region": "京都府", "city": "京都市", "district": "北区",
                                "street": None}}))

    # --- Not presence mail, refused, malformed ---
    re_body = "了解です。\n\n> Publisher: tanaka\n> Activity: busy\n"
    write("re-publish", single("Re: Publish", re_body, "iso-2022-jp", "7bit"),
          {"outcome": "not-presence", "stderr_contains": "Re: Publish"})
    write("publish-exclamation", single("Publish!", SPEC_BODY),
          {"outcome": "not-presence", "stderr_contains": "Publish!"})

    ooo = ("不在にしております。11/30に戻ります。\n\nPublisher: tanaka\nContact: tanaka@example.co.jp\n"
           "Activity: vacation\n")
    write("autoreply-echoing-subject", single("Publish", ooo, "iso-2022-jp", "7bit",
          frm="yamada@example.co.jp", extra=("Auto-Submitted: auto-replied", "X-Autoreply: yes")),
          {"outcome": "refused", "stderr_contains": "Auto-Submitted"})
    write("autoreply-precedence-only", single("Publish", ooo, "utf-8", "base64",
          frm="yamada@example.co.jp", extra=("Precedence: auto_reply",)),
          {"outcome": "refused", "stderr_contains": "Precedence"})

    b = "bounce-boundary"
    bounce = ("Return-Path: <>\r\nFrom: MAILER-DAEMON@mail.example.co.jp (Mail Delivery System)\r\n"
              "To: presence@example.co.jp\r\nSubject: Undelivered Mail Returned to Sender\r\n"
              "Date: Thu, 26 Nov 2026 13:06:00 +0900\r\nMIME-Version: 1.0\r\n"
              'Content-Type: multipart/report; report-type=delivery-status; boundary="%s"\r\n\r\n'
              "--%s\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
              "This is the mail system at host mail.example.co.jp.\r\n\r\n"
              "--%s\r\nContent-Type: message/delivery-status\r\n\r\n"
              "Final-Recipient: rfc822; nobody@example.co.jp\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
              "--%s\r\nContent-Type: message/rfc822\r\n\r\n"
              "From: presence@example.co.jp\r\nTo: nobody@example.co.jp\r\nSubject: Notify\r\n\r\n"
              "Notifier: tanaka\r\n\r\n--%s--\r\n") % (b, b, b, b, b)
    write("bounce-of-notify", bounce.encode(), {"outcome": "refused", "stderr_contains": "bounce"})

    write("malformed-missing-contact", single("Publish", "Publisher: tanaka\nActivity: busy\n"),
          {"outcome": "malformed", "part": "Contact"})
    write("malformed-repeated-publisher",
          single("Publish", "Publisher: tanaka\nPublisher: sato\nContact: a@b\nActivity: busy\n"),
          {"outcome": "malformed", "part": "Publisher"})
    write("malformed-bad-updated",
          single("Publish", "Publisher: tanaka\nContact: a@b\nActivity: busy\nUpdated: yesterday\n"),
          {"outcome": "malformed", "part": "Updated"})
    write("malformed-subscribe-no-notifier",
          single("Subscribe", "Watcher: sato\nSend-To: sato@example.co.jp\n"),
          {"outcome": "malformed", "part": "Notifier"})
    write("malformed-undecodable-utf8",
          headers("Publish").encode() + b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
          b"Publisher: tanaka\r\nContact: a@b\r\nActivity: \xff\xfe\xfd busy\r\n",
          {"outcome": "malformed", "part": "body"})

    webmail()


def webmail():
    """Mail as webmail and Apple Mail write it: every line of a typed body in
    its own block element, entities for spaces, and format=flowed soft breaks."""
    # Gmail on the web, HTML only: a <div> per line inside <div dir="ltr">,
    # an empty line as <div><br></div>, the signature in gmail_signature.
    lines = SPEC_BODY.strip("\n").split("\n")
    gmail = ('<div dir="ltr">' + lines[0]
             + "".join("<div>%s</div>" % l.replace("  ", " &nbsp;") for l in lines[1:])
             + '<div><br></div><span class="gmail_signature_prefix">-- </span><br>'
             + '<div dir="ltr" class="gmail_signature">田中 太郎<br>保守部</div></div>\n')
    write("publish-gmail-web-html-only",
          single("Publish", gmail, "utf-8", "quoted-printable", ctype="text/html",
                 extra=("X-Mailer: (none)",)),
          presence(SPEC_EXPECT))

    # Outlook on the web, HTML only: a <head> with styles, then one <div
    # class="elementToProof"> per line; base64.
    owa_style = ('<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
                 '<style type="text/css" style="display:none;"> P {margin-top:0;margin-bottom:0;} '
                 '</style></head><body dir="ltr">')
    owa = owa_style + "".join(
        '<div class="elementToProof" style="font-family: Aptos, Calibri, Helvetica, sans-serif; '
        'font-size: 12pt; color: rgb(0, 0, 0);">%s</div>' % l.replace("—", "&mdash;") for l in lines
    ) + '<div id="Signature"><p>田中&nbsp;太郎</p></div></body></html>\n'
    write("publish-outlook-web-html-only",
          single("Publish", owa, "utf-8", "base64", ctype="text/html",
                 extra=("X-MS-Has-Attach: ", "X-MS-TNEF-Correlator: ")),
          presence(SPEC_EXPECT))

    # Apple Mail, format=flowed with delsp=yes: the long lines are wrapped at a
    # space it added (the Japanese address has none), quoted-printable.
    flowed = SPEC_BODY.replace(
        "Location: 東京都千代田区丸の内一丁目",
        "Location: 東京都千代田区 \n丸の内一丁目").replace(
        "Activity: on-site — 設備点検中", "Activity: on-site — \n 設備点検中")
    flowed = flowed.replace(" \n ", "  \n")  # space-stuffing is by the reader: keep it simple
    raw = headers("Publish", extra=("X-Mailer: Apple Mail (2.3826.600.51.1.1)",)).encode("ascii")
    raw += (b"Content-Type: text/plain; charset=utf-8; format=flowed; delsp=yes\r\n"
            b"Content-Transfer-Encoding: quoted-printable\r\n\r\n")
    raw += encode_body(flowed + "\n田中\n", "utf-8", "quoted-printable")
    write("publish-apple-mail-flowed", raw, presence(SPEC_EXPECT))


if __name__ == "__main__":
    main()
