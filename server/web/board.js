// The presence board in the browser: reads /api/board once, then follows
// /api/events (Server-Sent Events) and redraws the changed rows; no polling.
// Without the stream it says how old the rows are and greys them out once
// they cannot be current; without a session it goes to sign-in. Filter,
// search, sort and view survive a reload (localStorage).
// Every text from the server goes in through textContent, never as HTML.
// The map view is map.js's (BoardMap), fed the same visible rows; the own
// state form is own.js's.
"use strict";

const TEXT = {
  ja: {
    title: "在席ボード", mine: "自分の状態", state: "状態", back: "戻り予定", note: "備考", update: "更新",
    name: "氏名", place: "行先", updated: "更新時刻", list: "一覧", map: "地図", search: "検索",
    sort: "並べ替え", sortName: "氏名順", sortBack: "戻り順", all: "すべて", signOut: "サインアウト",
    empty: "表示する人がいません。", none: "なし", other: "その他", overdue: "超過", notToday: "本日以外の更新",
    live: "リアルタイム更新中", reconnecting: "再接続中…", lost: "接続が切れています", asOf: "表示は {time} 時点（{age}前）",
    seconds: "秒", minutes: "分", hours: "時間",
    saved: "保存しました", failed: "保存できませんでした",
    notSavedOffline: "保存できませんでした：サーバーに接続できません。入力はそのままです。もう一度「更新」を押してください。",
    notSavedNewer: "保存しませんでした：ほかの場所（別のタブ、電話機など）で状態が変わっていました。最新の状態を表示しています。",
    changedWhileEditing: "編集中にほかの場所で状態が変わりました。保存するときに確認します。",
    mapNote: "勤務中の人を、公開している町に表示します（町の範囲と代表点：おおよその位置です）。",
    mapHelp: "地図: ドラッグで移動、ホイール・ピンチ・＋／−で拡大縮小、矢印キーで移動、0 で全員の町に戻ります",
    mapIn: "拡大", mapOut: "縮小", mapFit: "全員の町",
    lang: "English",
  },
  en: {
    title: "Presence board", mine: "My state", state: "State", back: "Back at", note: "Note", update: "Update",
    name: "Name", place: "Where", updated: "Updated", list: "List", map: "Map", search: "Search",
    sort: "Sort", sortName: "By name", sortBack: "By return", all: "All", signOut: "Sign out",
    empty: "Nobody to show.", none: "none", other: "Other", overdue: "overdue", notToday: "not updated today",
    live: "Live", reconnecting: "Reconnecting…", lost: "Connection lost", asOf: "showing {time} ({age} ago)",
    seconds: "s", minutes: "min", hours: "h",
    saved: "Saved", failed: "Not saved",
    notSavedOffline: "Not saved: the server cannot be reached. Your entry is kept; press Update again.",
    notSavedNewer: "Not saved: your state was changed elsewhere (another tab, a phone). The newer state is shown.",
    changedWhileEditing: "Your state was changed elsewhere while you were editing; saving will check.",
    mapNote: "People on duty, in the town they publish (its area and a point in it: approximate).",
    mapHelp: "Map: drag to move, wheel, pinch or +/− to zoom, arrow keys to move, 0 back to everyone's towns",
    mapIn: "Zoom in", mapOut: "Zoom out", mapFit: "Everyone's towns",
    lang: "日本語",
  },
};

const state = {
  lang: localStorage.getItem("board-lang") || document.documentElement.lang || "ja",
  board: null, people: new Map(), filter: "", search: "", sort: "name", view: "list",
  stream: null, changed: new Set(),
  // "connecting", "live" or "lost"; lostAt: when the rows were last known current.
  live: "connecting", lostAt: 0,
};

// Filter, search, sort and view, per person (a desk PC may be shared).
const viewKey = () => "board-view:" + state.board.account;

function saveView() {
  const { filter, search, sort, view } = state;
  if (state.board) localStorage.setItem(viewKey(), JSON.stringify({ filter, search, sort, view }));
}

let viewRestored = false;
function restoreView() {
  viewRestored = true;
  let saved = {};
  try { saved = JSON.parse(localStorage.getItem(viewKey())) || {}; } catch (e) { /* none kept */ }
  state.filter = String(saved.filter || "");
  state.search = String(saved.search || "");
  state.sort = saved.sort === "back" ? "back" : "name";
  $("search").value = state.search;
  $("sort").value = state.sort;
  render();
  if (saved.view === "map" && state.board.map) select("map");
}

function toSignIn() { location.href = "/login"; }

const $ = (id) => document.getElementById(id);
const t = (key) => (TEXT[state.lang] || TEXT.ja)[key] || key;
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
};

function label(token) {
  const s = state.board && state.board.states.find((x) => x.token === token);
  return s ? s[state.lang] : "";
}

function applyTexts() {
  document.documentElement.lang = state.lang;
  document.querySelectorAll("[data-t]").forEach((e) => { e.textContent = t(e.dataset.t); });
  $("lang-switch").textContent = t("lang");
  $("search").setAttribute("aria-label", t("search"));
  $("map").setAttribute("aria-label", t("mapHelp"));
  $("map-in").setAttribute("aria-label", t("mapIn"));
  $("map-out").setAttribute("aria-label", t("mapOut"));
  showLive();
}

function ago(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return s + t("seconds");
  if (s < 3600) return Math.floor(s / 60) + t("minutes");
  return Math.floor(s / 3600) + t("hours");
}

// The live label, and grey rows once they cannot be current: the stream
// has been away for longer than its retry time.
function showLive() {
  const live = $("live");
  if (state.live === "live") {
    live.textContent = t("live");
    live.className = "ok";
  } else if (state.live === "lost") {
    const at = new Date(state.lostAt);
    const time = String(at.getHours()).padStart(2, "0") + ":" + String(at.getMinutes()).padStart(2, "0");
    live.textContent = t("lost") + " — " + t("asOf").replace("{time}", time).replace("{age}", ago(Date.now() - state.lostAt));
    live.className = "warn";
  } else {
    live.textContent = t("reconnecting");
    live.className = "warn";
  }
  const retry = (state.board && state.board.retry_ms) || 2000;
  const stale = state.live === "lost" && Date.now() - state.lostAt >= retry;
  $("board").classList.toggle("stale", stale);
  $("board").setAttribute("aria-disabled", String(stale));
}

async function loadBoard() {
  const response = await fetch("/api/board", { credentials: "same-origin", cache: "no-store" });
  if (response.status === 401) { toSignIn(); return false; }
  if (!response.ok) throw new Error("board " + response.status);
  state.board = await response.json();
  state.people = new Map(state.board.people.map((p) => [p.account, p]));
  $("who").textContent = (state.board.me && state.board.me.name) || state.board.account;
  $("tab-map").hidden = !state.board.map;
  // A server restarted without its map: back to the list, keeping a tab stop.
  if (!state.board.map && state.view === "map") select("list");
  buildOwnOptions();
  // A board read again (after a reset) leaves an edit in progress alone.
  if (own.editing && state.board.me) ownChanged(state.board.me);
  else showOwn(state.board.me);
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
    // The browser gave up (the stream answered 401 or another error, not a
    // dropped connection): signed out, expired, or the server refusing.
    if (stream.readyState === EventSource.CLOSED) recheck(stream);
  };
  stream.addEventListener("person", (e) => {
    const row = JSON.parse(e.data);
    state.people.set(row.account, row);
    if (row.account === state.board.account) { state.board.me = row; ownChanged(row); }
    state.changed.add(row.account);
    BoardBack.arrived(row);
    scheduleRender();
  });
  stream.addEventListener("reset", async () => {
    stream.close();
    if (await loadBoard()) openStream();
  });
}

// After a refused stream: to sign-in without a session, else the board
// afresh, trying again after the retry time while the server is away.
async function recheck(stream) {
  if (state.stream !== stream) return;
  try {
    if (!(await loadBoard())) return;
    if (!viewRestored) restoreView();
    openStream();
  } catch (e) {
    setTimeout(() => recheck(stream), (state.board && state.board.retry_ms) || 2000);
  }
}

let pending = false;
function scheduleRender() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => { pending = false; render(); });
}

function isToday(iso) {
  const d = new Date(iso), n = new Date();
  return d.getFullYear() === n.getFullYear() && d.getMonth() === n.getMonth() && d.getDate() === n.getDate();
}

function timeText(iso) {
  const d = new Date(iso);
  const hm = String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
  return isToday(iso) ? hm : (d.getMonth() + 1) + "/" + d.getDate() + " " + hm;
}

function visible() {
  // The search box is find.js's: the server's matcher (name, reading, extension).
  let rows = [...state.people.values()].filter((p) =>
    (!state.filter || p.state === state.filter) && BoardFind.shows(p));
  const byName = (a, b) => a.name.localeCompare(b.name, "ja");
  const backOf = (p) => (p.back_at ? Date.parse(p.back_at) : Infinity);
  rows.sort(state.sort === "back" ? (a, b) => backOf(a) - backOf(b) || byName(a, b) : byName);
  return rows;
}

function render() {
  if (!state.board) return;
  renderFilters();
  renderTable();
  renderLegend();
  if (state.view === "map") renderDots();
  state.changed.clear();
}

function renderFilters() {
  const box = $("filters");
  box.replaceChildren();
  box.setAttribute("aria-label", t("state"));
  const counts = new Map();
  for (const p of state.people.values()) counts.set(p.state || "", (counts.get(p.state || "") || 0) + 1);
  const chip = (token, text, n) => {
    const b = el("button", "chip" + (token ? " st-" + token : ""), text + " " + n);
    b.type = "button";
    b.setAttribute("aria-pressed", String(state.filter === token));
    b.addEventListener("click", () => { state.filter = token; saveView(); render(); });
    box.append(b);
  };
  chip("", t("all"), state.people.size);
  for (const s of state.board.states) {
    if (counts.get(s.token) || state.filter === s.token) chip(s.token, s[state.lang], counts.get(s.token) || 0);
  }
}

function renderTable() {
  const table = $("board");
  table.querySelectorAll("tbody").forEach((b) => b.remove());
  const rows = visible();
  $("empty").hidden = rows.length > 0;
  const groups = new Map();
  const groupOf = (p) => (p.groups[0] && (state.board.departments || {})[p.groups[0]]) || p.groups[0] || t("other");
  for (const p of rows) {
    const g = groupOf(p);
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g).push(p);
  }
  const now = Date.now();
  const own = state.board.me ? groupOf(state.board.me) : null;
  for (const [group, people] of [...groups.entries()].sort(BoardFind.groupOrder(own))) {
    const body = el("tbody");
    const head = el("tr", "group");
    const th = el("th", null, group + " (" + people.length + ")");
    th.colSpan = 6;
    th.scope = "rowgroup";
    head.append(th);
    body.append(head);
    for (const p of people) body.append(personRow(p, now));
    table.append(body);
  }
}

function personRow(p, now) {
  const tr = el("tr", state.changed.has(p.account) ? "changed" : "");
  tr.dataset.account = p.account;
  const name = el("th", null, p.name);
  name.scope = "row";
  const st = el("td", "state" + (p.state ? " st-" + p.state : ""));
  st.append(el("span", "swatch"), el("span", null, officeStateText(p)));
  // On a phone the cells stack, so the two times say which is which.
  const labelled = (cls, key, text) => {
    const td = el("td", cls);
    if (text) td.append(el("span", "cell-label", t(key) + " "), text);
    return td;
  };
  const back = labelled("back", "back", backText(p.back));
  if (p.back_at && Date.parse(p.back_at) < now && p.state && p.state !== "available") {
    back.classList.add("overdue");
    back.append(el("span", "tag", t("overdue")));
  }
  const updated = labelled("updated", "updated", p.updated ? timeText(p.updated) : "");
  if (p.updated && !isToday(p.updated)) {
    updated.classList.add("old");
    updated.title = t("notToday");
  }
  BoardMemo.decorate(name, p);
  BoardBack.decorate(name, p);
  tr.append(name, st, el("td", "place", p.place || ""), back, el("td", "note", p.note || ""), updated);
  return tr;
}

function renderLegend() {
  const ul = $("legend");
  ul.replaceChildren();
  for (const s of state.board.states) {
    const li = el("li", "st-" + s.token);
    li.append(el("span", "swatch"), el("span", null, s[state.lang]));
    ul.append(li);
  }
}

async function showMap() {
  await BoardMap.show($("map"), visible());
  renderDots();
}

function renderDots() {
  BoardMap.dots(visible(), (p) => p.name + " — " + label(p.state) + " — " + (p.place || ""));
}

function select(view) {
  state.view = view;
  saveView();
  for (const [id, name] of [["tab-list", "list"], ["tab-map", "map"]]) {
    $(id).setAttribute("aria-selected", String(view === name));
    // One tab stop for the tab list; the arrow keys move between tabs.
    $(id).tabIndex = view === name ? 0 : -1;
  }
  $("list-view").hidden = view !== "list";
  $("map-view").hidden = view !== "map";
  if (view === "map") showMap();
}

// The tab list's keys, as the WAI-ARIA tabs pattern has them: Left/Right
// (wrapping), Home and End select the tab and move focus to it.
function tabKeys(event) {
  if (event.altKey || event.ctrlKey || event.metaKey) return; // the browser's own keys
  const tabs = ["tab-list", "tab-map"].map($).filter((tab) => !tab.hidden);
  const at = tabs.indexOf(document.activeElement);
  const to = { ArrowRight: at + 1, ArrowLeft: at - 1 + tabs.length, Home: 0, End: tabs.length - 1 }[event.key];
  if (at < 0 || to === undefined) return;
  event.preventDefault();
  const tab = tabs[to % tabs.length];
  tab.focus();
  select(tab.id === "tab-map" ? "map" : "list");
}

async function signOut() {
  await fetch("/logout", { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": state.board.csrf } });
  toSignIn();
}

document.addEventListener("DOMContentLoaded", async () => {
  applyTexts();
  watchOwnForm();
  $("search").addEventListener("input", (e) => { state.search = e.target.value; saveView(); render(); });
  $("sort").addEventListener("change", (e) => { state.sort = e.target.value; saveView(); render(); });
  $("tab-list").addEventListener("click", () => select("list"));
  $("tab-map").addEventListener("click", () => select("map"));
  $("map-in").addEventListener("click", () => BoardMap.zoom(1.5));
  $("map-out").addEventListener("click", () => BoardMap.zoom(1 / 1.5));
  $("map-fit").addEventListener("click", () => BoardMap.fit());
  document.querySelector("[role=tablist]").addEventListener("keydown", tabKeys);
  $("sign-out").addEventListener("click", signOut);
  $("lang-switch").addEventListener("click", () => {
    state.lang = state.lang === "ja" ? "en" : "ja";
    localStorage.setItem("board-lang", state.lang);
    applyTexts();
    // Only the words change: what is chosen and typed in the form stays.
    if (state.board) { buildOwnOptions(); render(); }
  });
  // The age of what is on screen, while the stream is away.
  setInterval(() => { if (state.live !== "live") showLive(); }, 1000);
  try {
    if (!(await loadBoard())) return;
  } catch (e) {
    state.live = "lost";
    state.lostAt = Date.now();
    showLive();
    recheck(null);
    return;
  }
  restoreView();
  openStream();
});
