// The 自分の状態 form of the board: filled from the person's own row, it
// follows the live stream (a desk phone, another tab) unless the person is
// editing it; a save carries the row's version, so the server refuses one
// made on an older state instead of putting it back, and every save says
// whether it was kept. Uses board.js's state, t, $ and el.
"use strict";

const own = { version: "", editing: false, saving: false };

// The options in the current language, keeping what is chosen and typed.
function buildOwnOptions() {
  const stateSelect = $("own-state"), back = $("own-back");
  const chosen = stateSelect.value, chosenBack = back.value;
  stateSelect.replaceChildren();
  for (const s of state.board.states) {
    const o = el("option", null, s[state.lang]);
    o.value = s.token;
    stateSelect.append(o);
  }
  back.replaceChildren(el("option", null, t("none")));
  back.firstChild.value = "";
  for (let m = 7 * 60; m <= 22 * 60; m += 30) {
    const v = String(Math.floor(m / 60)).padStart(2, "0") + ":" + (m % 60 ? "30" : "00");
    const o = el("option", null, v);
    o.value = v;
    back.append(o);
  }
  if (chosen) stateSelect.value = chosen;
  back.value = chosenBack;
}

// Shows `me` (the person's row, or none) in the form; any edit ends.
function showOwn(me) {
  if (!$("own-state").options.length) buildOwnOptions();
  if (me && me.state) $("own-state").value = me.state;
  else $("own-state").selectedIndex = 0;
  $("own-back").value = (me && me.back) || "";
  $("own-note").value = (me && me.note) || "";
  own.version = (me && me.version) || "";
  own.editing = false;
}

function tellOwn(kind, key) {
  const result = $("own-result");
  result.textContent = t(key);
  result.className = kind;
  result.dataset.t = key;
}

// A newer row of the person arrived on the stream.
function ownChanged(row) {
  if (own.saving || row.version === own.version) return; // the save's answer fills the form
  if (own.editing) {
    tellOwn("warn", "changedWhileEditing");
    return;
  }
  showOwn(row);
  // An earlier save's answer no longer describes what the form shows.
  $("own-result").textContent = "";
  delete $("own-result").dataset.t;
}

async function saveOwn(event) {
  event.preventDefault();
  const body = {
    state: $("own-state").value, back: $("own-back").value || null, note: $("own-note").value,
    version: own.version,
  };
  let response;
  own.saving = true;
  try {
    response = await fetch("/api/me", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": state.board.csrf },
      body: JSON.stringify(body),
    });
  } catch (e) {
    // No connection: what was typed stays for another try.
    tellOwn("warn", "notSavedOffline");
    return;
  } finally {
    own.saving = false;
  }
  if (response.status === 401) { toSignIn(); return; }
  const answer = await response.json().catch(() => null);
  if (response.status === 409) {
    showOwn(answer && answer.current);
    tellOwn("warn", "notSavedNewer");
    return;
  }
  if (!response.ok) {
    tellOwn("warn", "failed");
    if (answer && answer.error) $("own-result").textContent += ": " + answer.error;
    return;
  }
  if (answer) showOwn(answer);
  else own.editing = false;
  tellOwn("ok", "saved");
}

function watchOwnForm() {
  $("own").addEventListener("submit", saveOwn);
  for (const id of ["own-state", "own-back", "own-note"]) {
    $(id).addEventListener("input", () => { own.editing = true; });
    $(id).addEventListener("change", () => { own.editing = true; });
  }
}
