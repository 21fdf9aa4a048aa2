// The 自分の状態 form of the board: filled from the person's own row, it
// follows the live stream (a desk phone, another tab) unless the person is
// editing it; a save carries the row's version, so the server refuses one
// made on an older state instead of putting it back, and every save says
// whether it was kept. Uses board.js's state, t, $ and el, and office.js's
// fields (行先, 戻り日, 終了).
"use strict";

const own = { version: "", editing: false, saving: false };

// The options in the current language, keeping what is chosen and typed.
function buildOwnOptions() {
  const ids = ["own-state", "own-back-day", "own-back", "own-until"];
  const chosen = ids.map((id) => $(id).value);
  fillStateOptions($("own-state"));
  fillBackOptions($("own-back-day"), $("own-back"));
  fillUntilOptions($("own-until"));
  ids.forEach((id, i) => { if (chosen[i] && [...$(id).options].some((o) => o.value === chosen[i])) $(id).value = chosen[i]; });
  showPlaceField();
}

// Shows `me` (the person's row, or none) in the form; any edit ends.
function showOwn(me) {
  if (!$("own-state").options.length) buildOwnOptions();
  if (me && (me.office || me.state)) $("own-state").value = me.office || me.state;
  else $("own-state").selectedIndex = 0;
  showPlaceField();
  $("own-place").value = (me && me.office && me.place) || "";
  setBackFields(me && me.back);
  const until = me && me.until ? hm(new Date(me.until)) : "";
  if (until && ![...$("own-until").options].some((o) => o.value === until)) {
    const o = el("option", null, until);
    o.value = until;
    $("own-until").append(o);
  }
  $("own-until").value = until;
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
    state: $("own-state").value, back: backValue(), note: $("own-note").value,
    place: $("own-place-label").hidden ? null : $("own-place").value, until: $("own-until").value || null,
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
  $("own-state").addEventListener("change", showPlaceField);
  for (const id of ["own-state", "own-place", "own-back-day", "own-back", "own-until", "own-note"]) {
    $(id).addEventListener("input", () => { own.editing = true; });
    $(id).addEventListener("change", () => { own.editing = true; });
  }
}
