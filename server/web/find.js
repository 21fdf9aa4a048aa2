// Finding people on the board: the search box asks the server (GET
// /api/find), which finds by name, reading (ひらがな, カタカナ, romaji),
// extension or department with the same matcher the phones' directory
// uses; the board shows the accounts it names. And the viewer's own
// department comes first among the groups. Uses board.js's state.
"use strict";

const BoardFind = (() => {
  // The answer for `query`: the accounts found (null: everyone).
  let found = { query: "", accounts: null };
  let asked = "";
  let timer = null;

  async function ask(query) {
    asked = query;
    try {
      const response = await fetch("/api/find?q=" + encodeURIComponent(query), { credentials: "same-origin", cache: "no-store" });
      if (response.status === 401) { toSignIn(); return; }
      if (!response.ok) return;
      const answer = await response.json();
      // Only the answer to what is in the box now counts.
      if (state.search.trim() !== query) return;
      found = { query, accounts: new Set(answer.accounts) };
      render();
    } catch (e) {
      asked = ""; // ask again on the next render
    }
  }

  // Whether `p` is among what the search box finds; until the server has
  // answered a new query, the last answer stands.
  function shows(p) {
    const query = state.search.trim();
    if (!query) {
      found = { query: "", accounts: null };
      return true;
    }
    if (found.query !== query && asked !== query) {
      clearTimeout(timer);
      asked = query;
      timer = setTimeout(() => ask(query), 120);
    }
    return !found.accounts || found.accounts.has(p.account);
  }

  // Sorts group headings: the viewer's own department first, then by name.
  function groupOrder(own) {
    return (a, b) => (b[0] === own) - (a[0] === own) || a[0].localeCompare(b[0], "ja");
  }

  return { shows, groupOrder };
})();
