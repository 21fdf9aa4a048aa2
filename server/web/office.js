// The office board's own words and fields: the office states (外出 with its
// 行先, 会議 with its room, 直行, 直帰 … from the server's presets) beside the
// plain states, 戻り予定 as 未定, a time at any hour, or a day (明日, a day of
// next week), and a state's end. board.js shows rows with officeStateText and
// backText; own.js fills and reads the form's extra fields with these.
// Uses board.js's state, t, $ and el.
"use strict";

Object.assign(TEXT.ja, {
  officeStates: "外出・不在", todayStates: "在席・業務中", placeFor: "行先", roomFor: "会議室", until: "終了",
  undecided: "未定", today: "今日", tomorrow: "明日", backDay: "戻り日", noTime: "時刻なし", endsAt: "{time}まで",
  weekdays: "日月火水木金土",
});
Object.assign(TEXT.en, {
  officeStates: "Out of office", todayStates: "In the office", placeFor: "Where", roomFor: "Room", until: "Until",
  undecided: "undecided", today: "Today", tomorrow: "Tomorrow", backDay: "Back on", noTime: "no time", endsAt: "until {time}",
  weekdays: "SunMonTueWedThuFriSat",
});

const pad2 = (n) => String(n).padStart(2, "0");
const ymd = (d) => d.getFullYear() + "-" + pad2(d.getMonth() + 1) + "-" + pad2(d.getDate());
const hm = (d) => pad2(d.getHours()) + ":" + pad2(d.getMinutes());

function weekday(d) {
  const names = t("weekdays");
  return state.lang === "en" ? names.slice(d.getDay() * 3, d.getDay() * 3 + 3) : names[d.getDay()];
}

function dayText(day) {
  const d = new Date(day + "T00:00:00");
  const today = new Date();
  if (ymd(d) === ymd(today)) return t("today");
  const tomorrow = new Date(today.getFullYear(), today.getMonth(), today.getDate() + 1);
  if (ymd(d) === ymd(tomorrow)) return t("tomorrow");
  return (d.getMonth() + 1) + "/" + d.getDate() + (state.lang === "en" ? " (" + weekday(d) + ")" : "(" + weekday(d) + ")");
}

function presetOf(key) {
  return (state.board && state.board.presets || []).find((p) => p.key === key);
}

// 外出, or the plain state's label; with its end (会議 15:00まで).
function officeStateText(p) {
  const preset = p.office && presetOf(p.office);
  let text = preset ? preset[state.lang] : (p.state ? label(p.state) : "—");
  if (p.until) text += " " + t("endsAt").replace("{time}", timeText(p.until));
  return text;
}

// 戻り予定 as the row shows it: 15:00, 未定, 明日, 12/8(火) 09:00.
function backText(back) {
  if (!back) return "";
  if (back === "undecided") return t("undecided");
  const [day, time] = back.includes("-") ? back.split(" ") : [null, back];
  return day ? dayText(day) + (time ? " " + time : "") : time;
}

// The state select: the office states, then the plain ones.
function fillStateOptions(select) {
  select.replaceChildren();
  const group = (key, items) => {
    const g = el("optgroup");
    g.label = t(key);
    for (const [value, text] of items) {
      const o = el("option", null, text);
      o.value = value;
      g.append(o);
    }
    select.append(g);
  };
  group("todayStates", state.board.states.map((s) => [s.token, s[state.lang]]));
  group("officeStates", (state.board.presets || []).map((p) => [p.key, p[state.lang]]));
}

// The back day select (今日, 明日, the next seven days, 未定) and the time
// select (none, every half hour of the day).
function fillBackOptions(daySelect, timeSelect) {
  daySelect.replaceChildren();
  const now = new Date();
  for (let i = 0; i < 8; i++) {
    const d = new Date(now.getFullYear(), now.getMonth(), now.getDate() + i);
    const o = el("option", null, dayText(ymd(d)));
    o.value = i === 0 ? "" : ymd(d);
    daySelect.append(o);
  }
  const undecided = el("option", null, t("undecided"));
  undecided.value = "undecided";
  daySelect.append(undecided);
  timeSelect.replaceChildren(el("option", null, t("none")));
  timeSelect.firstChild.value = "";
  for (let m = 0; m < 24 * 60; m += 30) {
    const v = pad2(Math.floor(m / 60)) + ":" + (m % 60 ? "30" : "00");
    const o = el("option", null, v);
    o.value = v;
    timeSelect.append(o);
  }
}

// The end select: none, or a half hour later today.
function fillUntilOptions(select) {
  select.replaceChildren(el("option", null, t("none")));
  select.firstChild.value = "";
  const now = new Date();
  for (let m = (Math.floor((now.getHours() * 60 + now.getMinutes()) / 30) + 1) * 30; m < 24 * 60; m += 30) {
    const v = pad2(Math.floor(m / 60)) + ":" + (m % 60 ? "30" : "00");
    const o = el("option", null, v);
    o.value = v;
    select.append(o);
  }
}

// Shows the 行先 / room field only for a state that takes one.
function showPlaceField() {
  const preset = presetOf($("own-state").value);
  const takes = preset && preset.place !== "none";
  $("own-place-label").hidden = !takes;
  if (takes) $("own-place-name").textContent = t(preset.place === "room" ? "roomFor" : "placeFor");
}

// The form's back fields from a row's back (see backText).
function setBackFields(back) {
  let day = "", time = "";
  if (back === "undecided") day = "undecided";
  else if (back && back.includes("-")) [day, time = ""] = back.split(" ");
  else if (back) time = back;
  const days = $("own-back-day");
  if (day && ![...days.options].some((o) => o.value === day)) {
    const o = el("option", null, dayText(day));
    o.value = day;
    days.append(o);
  }
  days.value = day;
  $("own-back").value = time;
}

// What the form's back fields send: HH:MM, undecided, YYYY-MM-DD[THH:MM].
function backValue() {
  const day = $("own-back-day").value, time = $("own-back").value;
  if (day === "undecided") return "undecided";
  if (!day) return time || null;
  return time ? day + "T" + time : day;
}
