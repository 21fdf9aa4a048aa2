#!/usr/bin/env python3
"""How often `mailpresence geocode` names the right municipality (with the
ward of a designated city) and the right town (大字・町丁目) for real Japanese
addresses that do not come from the map pack's own data.

The addresses: the railway stations of ekidata.jp (駅データ.jp), as shipped in
the fixtures of PyPI `django-jp-stations` 0.1 (MIT; the data from ekidata.jp,
free data, 2017): each station with its postal address and coordinates, from
a source independent of MLIT 位置参照情報. Stations in service only, each
address once.

A municipality is right when the address, after its prefecture, begins with
the name we give (a county before a town or village is allowed: 安八郡安八町).
A town is right when what follows begins with our town name, and when our
town is a 丁目, the address's 丁目 number (一丁目, 1丁目 or 1-…) is the same;
where the address stops at the 大字 (大字大中山, a lot number after it) and
ours is one of its 丁目 (大中山二丁目) or 字 (大字堤 → 大字堤字切通), the town
counts as right. 大字 inside a name may be written or not, and a 丁 (堺市's
百舌鳥西之町一丁) is a 丁目. ケ and ヶ are the same letter (茅ケ崎市, 茅ヶ崎市), and an
island's name may stand before its town as a county's does (八丈島八丈町).
Addresses that name no town after the municipality (only a lot number) count
for the municipality figure only.

Usage: bench/geocode_accuracy.py [BINARY] — prints Markdown for BENCHMARKS.md.
With GEOCODE_CMD set (e.g. "target/release/examples/geocode_pack PACK
--points-only"), that command reads the points instead of `BINARY geocode`.
"""
import collections, json, os, re, shlex, subprocess, sys, tarfile, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "django-jp-stations==0.1"

KANJI_DIGITS = {"〇": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
PREFECTURE = re.compile(r"^(北海道|東京都|大阪府|京都府|.{2,3}県)")


def kanji_number(s):
    """一 → 1, 十二 → 12, 二十三 → 23."""
    if not s:
        return None
    if "十" in s:
        tens, _, ones = s.partition("十")
        return (KANJI_DIGITS.get(tens, 1) if tens else 1) * 10 + (KANJI_DIGITS.get(ones, 0) if ones else 0)
    n = 0
    for c in s:
        if c not in KANJI_DIGITS:
            return None
        n = n * 10 + KANJI_DIGITS[c]
    return n


def normal(s):
    """Full-width digits and dashes to ASCII, ヶ/ヵ to ケ/カ, no spaces."""
    s = s.translate(str.maketrans("０１２３４５６７８９－ー―‐ヶヵ　", "0123456789----ケカ "))
    return s.replace(" ", "")


def arabic(s):
    """Kanji numbers before 条, 区, 線, 号, 番 and 丁 as digits (南十五条西 → 南15条西,
    北星二区 → 北星2区, 西三番町 → 西3番町), as the addresses write them."""
    return re.sub(r"([一二三四五六七八九十]+)(?=[条区線号番丁])", lambda m: str(kanji_number(m.group(1))), s)


def strip_aza(s):
    for p in ("大字", "字"):
        if s.startswith(p):
            return s[len(p):]
    return s


def stations():
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                        "--dest", tmp, PACKAGE], check=True)
        archive = next(os.path.join(tmp, f) for f in os.listdir(tmp) if f.endswith(".tar.gz"))
        with tarfile.open(archive) as t:
            member = next(m for m in t.getmembers() if m.name.endswith("fixtures/stations.json"))
            rows = json.load(t.extractfile(member))
    seen, out = set(), []
    for r in rows:
        if r.get("e_status") != 0 or not r.get("add") or not r.get("lat"):
            continue
        key = normal(r["add"])
        if key in seen:
            continue
        seen.add(key)
        out.append((r["station_name"], key, float(r["lat"]), float(r["lon"])))
    return out


def judge(address, answer):
    """(municipality right, town right or None when the address names no town)."""
    rest = PREFECTURE.sub("", address)
    city = normal(answer.get("city") or "")
    town = normal(answer.get("district") or "")
    after = None
    if rest.startswith(city):
        after = rest[len(city):]
    else:
        county = re.match(r"^(.+?[郡島])", rest)
        if county and rest[len(county.group(1)):].startswith(city):
            after = rest[len(county.group(1)) + len(city):]
    if after is None:
        return False, False if re.match(r"^\D", rest) else None
    after = strip_aza(after)
    if not after or after[0].isdigit():
        return True, None
    m = re.match(r"^(.*?)([一二三四五六七八九十]+)丁目?$", town)
    base, chome = (m.group(1), kanji_number(m.group(2))) if m else (town, None)
    # 大字 inside a name is written or not (諸富町大字大堂, 諸富町大堂).
    base = arabic(strip_aza(base)).replace("大字", "")
    after = arabic(after).replace("大字", "")
    if not base or not after.startswith(base):
        # The address names the 大字 and a lot number (大字堤1923), ours a 字
        # inside that 大字 (大字堤字切通).
        oaza = re.match(r"^(.+?)字", base)
        return True, bool(oaza) and re.match(r"^\d|$", after[len(oaza.group(1)):]) is not None \
            and after.startswith(oaza.group(1))
    if chome is None:
        return True, True
    tail = after[len(base):]
    got = re.match(r"^(\d+)(?:丁目|-|番|$)", tail) or re.match(r"^([一二三四五六七八九十]+)丁目", tail)
    if not got:
        # The address names the 大字 only (大字大中山), ours one of its 丁目.
        return True, not re.match(r"^[^\d-]", tail)
    n = int(got.group(1)) if got.group(1).isdigit() else kanji_number(got.group(1))
    return True, n == chome


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target/release/mailpresence")
    points = stations()
    text = "".join(f"{lat},{lon}\n" for _, _, lat, lon in points)
    cmd = shlex.split(os.environ["GEOCODE_CMD"]) if os.environ.get("GEOCODE_CMD") else [binary, "geocode"]
    run = subprocess.run(cmd, input=text.encode(), capture_output=True, check=False)
    answers = [json.loads(l) for l in run.stdout.decode().splitlines()]
    if len(answers) != len(points):
        sys.exit(f"{len(answers)} answers for {len(points)} points: {run.stderr.decode()[:500]}")
    muni_ok = town_n = town_ok = 0
    misses = collections.defaultdict(list)
    for (name, address, _, _), answer in zip(points, answers):
        m, t = judge(address, answer)
        muni_ok += m
        if t is not None:
            town_n += 1
            town_ok += t
        if not m or t is False:
            misses["municipality" if not m else "town"].append(f"{name}駅 {address} → {answer.get('display')}")
    n = len(points)
    print(f"| real addresses (ekidata.jp stations via PyPI django-jp-stations 0.1) | right | of | share |")
    print("|---|---|---|---|")
    print(f"| municipality, with the ward of a designated city | {muni_ok} | {n} | {100 * muni_ok / n:.1f} % |")
    print(f"| town (大字・町丁目), where the address names one | {town_ok} | {town_n} | {100 * town_ok / town_n:.1f} % |")
    show = int(os.environ.get("SHOW_MISSES", "8"))
    for kind in ("municipality", "town"):
        print(f"\nSome wrong answers for the {kind} (address → ours):\n")
        for line in misses[kind][:: max(1, len(misses[kind]) // max(show, 1))][:show]:
            print(f"- {line}")


if __name__ == "__main__":
    main()
