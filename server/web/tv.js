// The wall display (TV mode): the board read-only in large type, no
// controls. Reads /api/board once, then follows /api/events like the board;
// never silently stale: the header shows the time, and when the stream is
// away it says since when and greys the rows out once they cannot be
// current; when the display's session is revoked or gone the rows are taken
// down and the screen says so. Defines the globals office.js uses (TEXT,
// state, t, el, label, timeText) for its state and 戻り予定 words.
"use strict";

const TEXT = {
  ja: {
    title: "在席表示", name: "氏名", state: "状態", place: "行先", back: "戻り予定", note: "備考", other: "その他",
    live: "リアルタイム更新中", lost: "接続が切れています", asOf: "表示は {time} 時点（{age}前）", none: "なし",
    seconds: "秒", minutes: "分", hours: "時間", now: "{time} 現在", overdue: "超過",
    revoked: "この画面の表示は終了しました（取り消されたか、期限が切れました）。管理者に新しい表示用リンクを発行してもらってください。",
  },
  en: {
    title: "Presence", name: "Name", state: "State", place: "Where", back: "Back at", note: "Note", other: "Other",
    live: "Live", lost: "Connection lost", asOf: "showing {time} ({age} ago)", none: "none",
    seconds: "s", minutes: "min", hours: "h", now: "as of {time}", overdue: "overdue",
    revoked: "This screen no longer shows the board (revoked or expired). Ask an administrator for a new display link.",
  },
};

const state = {
  lang: document.documentElement.lang === "en" ? "en" : "ja",
  board: null, people: new Map(), stream: null, live: "connecting", lostAt: 0, ended: false,
};

const $ = (id) => document.getElementById(id);
const t = (key) => (TEXT[state.lang] || TEXT.ja)[key] || key;
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
};
const two = (n) => String(n).padStart(2, "0");
const clock = (d) => two(d.getHours()) + ":" + two(d.getMinutes());

function label(token) {
  const s = state.board && state.board.states.find((x) => x.token === token);
  return s ? s[state.lang] : "";
}

function timeText(iso) {
  const d = new Date(iso), n = new Date();
  const sameDay = d.toDateString() === n.toDateString();
  return sameDay ? clock(d) : (d.getMonth() + 1) + "/" + d.getDate() + " " + clock(d);
}

function ago(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return s + t("seconds");
  if (s < 3600) return Math.floor(s / 60) + t("minutes");
  return Math.floor(s / 3600) + t("hours");
}

// The clock, the live label, and grey rows once they cannot be current.
function showLive() {
  $("tv-clock").textContent = t("now").replace("{time}", clock(new Date()));
  const live = $("live");
  if (state.ended) {
    live.textContent = t("lost");
    live.className = "warn";
  } else if (state.live === "live") {
    live.textContent = t("live");
    live.className = "ok";
  } else {
    const since = state.lostAt || Date.now();
    live.textContent = t("lost") + " — " + t("asOf").replace("{time}", clock(new Date(since))).replace("{age}", ago(Date.now() - since));
    live.className = "warn";
  }
  const retry = (state.board && state.board.retry_ms) || 2000;
  const stale = state.ended || (state.live !== "live" && Date.now() - state.lostAt >= retry);
  $("tv-board").classList.toggle("stale", stale);
  document.body.dataset.live = stale ? "stale" : state.live;
}

// The session is gone: no rows that look current, and a sentence why.
function ended() {
  state.ended = true;
  if (state.stream) state.stream.close();
  $("tv-board").replaceChildren();
  $("tv-notice").textContent = t("revoked");
  $("tv-notice").hidden = false;
  showLive();
}

async function loadBoard() {
  const response = await fetch("/api/board", { credentials: "same-origin", cache: "no-store" });
  if (response.status === 401) { ended(); return false; }
  if (!response.ok) throw new Error("board " + response.status);
  state.board = await response.json();
  state.people = new Map(state.board.people.map((p) => [p.account, p]));
  render();
  return true;
}

function openStream() {
  if (state.stream) state.stream.close();
  const stream = new EventSource("/api/events?after=" + encodeURIComponent(state.board.last_event));
  state.stream = stream;
  stream.onopen = () => { state.live = "live"; showLive(); };
  stream.onerror = () => {
    if (state.live !== "lost") { state.live = "lost"; state.lostAt = Date.now(); }
    showLive();
    if (stream.readyState === EventSource.CLOSED) recheck(stream);
  };
  stream.addEventListener("person", (e) => {
    const row = JSON.parse(e.data);
    state.people.set(row.account, row);
    render();
  });
  stream.addEventListener("reset", async () => {
    stream.close();
    if (await loadBoard()) openStream();
  });
}

// A stream the server ended (revoked) or refused: gone for good on 401,
// else try again after the retry time.
async function recheck(stream) {
  if (state.stream !== stream || state.ended) return;
  try {
    if (await loadBoard()) openStream();
  } catch (e) {
    setTimeout(() => recheck(stream), (state.board && state.board.retry_ms) || 2000);
  }
}

function render() {
  if (state.ended || !state.board) return;
  const box = $("tv-board");
  box.replaceChildren();
  const groups = new Map();
  const people = [...state.people.values()].sort((a, b) => a.name.localeCompare(b.name, "ja"));
  for (const p of people) {
    const g = (p.groups[0] && (state.board.departments || {})[p.groups[0]]) || p.groups[0] || t("other");
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g).push(p);
  }
  const now = Date.now();
  for (const [group, rows] of [...groups.entries()].sort((a, b) => a[0].localeCompare(b[0], "ja"))) {
    const section = el("section", "tv-group");
    section.append(el("h2", null, group));
    const table = el("table");
    for (const p of rows) {
      const tr = el("tr");
      tr.dataset.account = p.account;
      const st = el("td", "state" + (p.state ? " st-" + p.state : ""));
      st.append(el("span", "swatch"), el("span", null, officeStateText(p)));
      const back = el("td", "back", backText(p.back));
      if (p.back_at && Date.parse(p.back_at) < now && p.state && p.state !== "available") {
        back.classList.add("overdue");
        back.append(el("span", "tag", t("overdue")));
      }
      tr.append(el("th", null, p.name), st, el("td", "place", p.place || ""), back, el("td", "note", p.note || ""));
      table.append(tr);
    }
    section.append(table);
    box.append(section);
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  $("tv-title").textContent = t("title");
  showLive();
  setInterval(showLive, 1000);
  try {
    if (!(await loadBoard())) return;
  } catch (e) {
    state.live = "lost";
    state.lostAt = Date.now();
    showLive();
    recheck(null);
    return;
  }
  openStream();
});
