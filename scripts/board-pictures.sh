#!/usr/bin/env bash
# The README's board pictures, from real renders: starts a real presence
# server with the small office of scripts/presence-server.sh (and its own
# mail servers), fills a morning — field workers publish by mail, a desk
# worker sets 外出 with a 行先 and 戻り予定, another 会議 in a room with an end —
# and takes Japanese screenshots with Debian's headless Chromium (driven over
# WebDriver by chromedriver) of the board on a desktop (1280×800) and a
# phone-sized window (390×844), and of the wall display (TV mode).
#   scripts/board-pictures.sh OUTDIR   writes board-desktop.png, board-phone.png, board-tv.png
# Needs `cargo build -p mailpresence-server` first (in $CARGO_TARGET_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
# The office's clock for the server and the browser: the board shows times
# as a Japanese office reads them, whatever zone this machine keeps.
export TZ=Asia/Tokyo
out="${1:?usage: $0 OUTDIR}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
work="$(mktemp -d)"
chmod 755 "$work" # the mail servers run as their own users
web_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
driver_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
driver_pid=""
cleanup() {
  [ -z "$driver_pid" ] || kill "$driver_pid" 2>/dev/null || true
  scripts/presence-server.sh stop "$work/server" || true
  rm -rf "$work"
}
trap cleanup EXIT

# Only the server's own mail servers: not ones another shell started.
env_vars=$(env -u MAILPRESENCE_IMAP_PORT MAILPRESENCE_WEB_PORT="$web_port" scripts/presence-server.sh start "$work/server")
eval "$env_vars"
chromedriver --port="$driver_port" >/dev/null 2>&1 &
driver_pid=$!

MAILPRESENCE_WEB_URL="http://127.0.0.1:$web_port" DRIVER_URL="http://127.0.0.1:$driver_port" \
  OUTDIR="$out" PROFILE="$work/profile" python3 - <<'PY'
import base64, email, email.policy, imaplib, json, os, re, smtplib, ssl, subprocess, time, urllib.error, urllib.parse, urllib.request
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage

web = os.environ["MAILPRESENCE_WEB_URL"]
driver = os.environ["DRIVER_URL"]
domain = os.environ["MAILPRESENCE_MAIL_DOMAIN"]
presence = os.environ["MAILPRESENCE_PRESENCE_ADDRESS"]
ca = ssl.create_default_context(cafile=os.environ["MAILPRESENCE_MAIL_CA"])
out = os.environ["OUTDIR"]
jst = timezone(timedelta(hours=9))

def http(method, path, body=None, cookie=None, csrf=None, form=False):
    headers = {"Origin": web}
    data = None
    if body is not None:
        if form:
            data = urllib.parse.urlencode(body).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
    if cookie:
        headers["Cookie"] = cookie
    if csrf:
        headers["X-CSRF-Token"] = csrf
    request = urllib.request.Request(web + path, data=data, headers=headers, method=method)
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=20) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()

def sign_in_link(account):
    """The one-time link mailed to `account`, as a person gets it."""
    http("POST", "/login", {"address": f"{account}@{domain}"}, form=True)
    for _ in range(300):
        imap = imaplib.IMAP4("127.0.0.1", int(os.environ["MAILPRESENCE_IMAP_PORT"]))
        imap.starttls(ca)
        imap.login(f"{account}@{domain}", "secret")
        imap.select("INBOX")
        _, ids = imap.search(None, "ALL")
        for i in reversed(ids[0].split()):
            _, data = imap.fetch(i, "(RFC822)")
            mail = email.message_from_bytes(data[0][1], policy=email.policy.default)
            body = mail.get_body(("plain",))
            text = body.get_content() if body else ""
            m = re.search(re.escape(web) + r"/login/[0-9a-f]{64}", text)
            if m:
                imap.logout()
                return m.group(0)
        imap.logout()
        time.sleep(0.1)
    raise SystemExit(f"no sign-in mail for {account}")

def session(account):
    """A session for scripted changes: the link's button pressed by hand."""
    link = sign_in_link(account)
    status, headers, _ = http("POST", link[len(web):])
    cookie = headers["Set-Cookie"].split(";")[0]
    _, _, board = http("GET", "/api/board", cookie=cookie)
    return cookie, json.loads(board)["csrf"]

def publish(account, activity, location=None, schedule=None):
    """A field worker's Publish mail, sent as their phone would."""
    lines = [f"Publisher: {account}", f"Contact: {account}@{domain}", f"Activity: {activity}"]
    if location:
        lines.append(f"Location: {location}")
    if schedule:
        lines.append(f"Schedule: {schedule}")
    lines.append("Updated: " + datetime.now(jst).isoformat(timespec="seconds"))
    mail = EmailMessage()
    mail["From"] = f"{account}@{domain}"
    mail["To"] = presence
    mail["Subject"] = "Publish"
    mail.set_content("\n".join(lines) + "\n")
    with smtplib.SMTP("127.0.0.1", int(os.environ["MAILPRESENCE_SUBMISSION_PORT"]), timeout=20) as smtp:
        smtp.starttls(context=ca)
        smtp.login(f"{account}@{domain}", "secret")
        smtp.send_message(mail)

def wd(method, path, body=None):
    request = urllib.request.Request(driver + path, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method=method)
    with urllib.request.urlopen(request, timeout=60) as r:
        return json.loads(r.read())["value"]

# The board listens once its map pack is read, a moment after the mailbox.
for _ in range(300):
    try:
        if http("GET", "/login")[0] == 200:
            break
    except urllib.error.URLError:
        time.sleep(0.1)

# The morning: the field by mail, 山田 (desk) from a script with his session.
publish("tanaka", "on-site — 設備点検", "東京都千代田区丸の内一丁目", "15:00 帰社予定")
publish("sato", "driving", "東京都中央区八重洲二丁目", "16:30 帰社予定")
cookie, csrf = session("yamada")
status, _, answer = http("POST", "/api/me", {"state": "out", "place": "A社 本社（品川）", "back": "16:00",
                                             "note": "見積の打合せ"}, cookie=cookie, csrf=csrf)
assert status == 200, answer
status, _, answer = http("POST", "/api/tv", {"name": "1F 受付"}, cookie=cookie, csrf=csrf)
assert status == 200, answer
tv_link = json.loads(answer)["link"]

# 鈴木 (desk) in Chromium: 会議 in 第1会議室 for an hour, then the pictures.
caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
    "binary": "/usr/bin/chromium",
    "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--lang=ja",
             "--hide-scrollbars", f"--user-data-dir={os.environ['PROFILE']}"],
    "prefs": {"intl.accept_languages": "ja"}}}}}
sid = wd("POST", "/session", caps)["sessionId"]
def go(url): wd("POST", f"/session/{sid}/url", {"url": url})
def run(script): return wd("POST", f"/session/{sid}/execute/sync", {"script": script, "args": []})
def click(css):
    e = wd("POST", f"/session/{sid}/element", {"using": "css selector", "value": css})
    wd("POST", f"/session/{sid}/element/{list(e.values())[0]}/click", {})
def wait_for(script, what):
    for _ in range(300):
        if run(script):
            return
        time.sleep(0.1)
    raise SystemExit(f"the page never showed {what}")
def size(w, h):
    wd("POST", f"/session/{sid}/window/rect", {"width": w, "height": h})
    # The window's inner size is what the picture shows.
    dw, dh = run("return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight]")
    wd("POST", f"/session/{sid}/window/rect", {"width": w + dw, "height": h + dh})
def shot(name):
    time.sleep(0.5)
    path = os.path.join(out, name)
    with open(path, "wb") as f:
        f.write(base64.b64decode(wd("GET", f"/session/{sid}/screenshot")))
    # Fewer colours keep the picture small for the README (< 200 KB).
    if os.path.getsize(path) > 150_000:
        subprocess.run(["convert", path, "-colors", "128", path], check=True)
    print(f"{path}: {os.path.getsize(path) // 1024} KB")

go(sign_in_link("suzuki"))
click("form button")
wait_for("return !!document.querySelector('tr[data-account=\"yamada\"] td.place')", "the board")
until = (datetime.now(jst) + timedelta(hours=1)).isoformat(timespec="seconds")
run("return fetch('/api/me', { method: 'POST', headers: { 'Content-Type': 'application/json', "
    "'X-CSRF-Token': state.board.csrf }, body: JSON.stringify({ state: 'meeting-room', place: '第1会議室', "
    f"until: '{until}', note: '週次営業会議', version: own.version }}) }}).then(r => r.status)")
wait_for("return document.querySelectorAll('#board tbody tr:not(.group)').length === 4 && "
         "document.querySelector('tr[data-account=\"suzuki\"] td.state').textContent.includes('会議') && "
         "document.querySelector('tr[data-account=\"sato\"] td.place').textContent.includes('八重洲')",
         "everyone's state")
size(1280, 800)
shot("board-desktop.png")
# A phone's viewport (a desktop window cannot be that narrow).
wd("POST", f"/session/{sid}/goog/cdp/execute", {"cmd": "Emulation.setDeviceMetricsOverride", "params": {
    "width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True}})
shot("board-phone.png")
wd("POST", f"/session/{sid}/goog/cdp/execute", {"cmd": "Emulation.clearDeviceMetricsOverride", "params": {}})
go(tv_link)
click("form button")
wait_for("return document.querySelectorAll('#tv-board tr').length === 4", "the wall display")
size(1280, 720)
shot("board-tv.png")
wd("DELETE", f"/session/{sid}")
PY
