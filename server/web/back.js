// "Tell me when this person is back" (戻ったら通知): a row's bell marks the
// person; when the stream brings them as 在席 (available) the browser's
// notification says so where the page may show one, else a banner in the
// page; once, then the mark is gone. Marks survive a reload (per viewer).
// Uses board.js's state, $, el and label.
"use strict";

const BACK_TEXT = {
  ja: { watch: "戻ったら通知", watching: "通知待ち", back: "{name} さんが在席になりました", close: "閉じる" },
  en: { watch: "Tell me when back", watching: "Waiting", back: "{name} is back", close: "Close" },
};

const BoardBack = (() => {
  const bt = (key) => (BACK_TEXT[state.lang] || BACK_TEXT.ja)[key] || key;
  const key = () => "board-back:" + state.board.account;

  function watched() {
    try { return new Set(JSON.parse(localStorage.getItem(key())) || []); } catch (e) { return new Set(); }
  }

  function keep(set) { localStorage.setItem(key(), JSON.stringify([...set])); }

  // The bell under a colleague's name, when they are not 在席.
  function decorate(cell, p) {
    if (p.account === state.board.account) return;
    const on = watched().has(p.account);
    if (p.state === "available" && !on) return;
    const b = el("button", "back-watch", on ? bt("watching") : bt("watch"));
    b.type = "button";
    b.setAttribute("aria-pressed", String(on));
    b.addEventListener("click", () => toggle(p.account));
    cell.append(b);
  }

  function toggle(account) {
    const set = watched();
    if (set.has(account)) set.delete(account);
    else {
      set.add(account);
      // Asked on the click that wants it, as browsers require.
      if ("Notification" in window && Notification.permission === "default") Notification.requestPermission();
    }
    keep(set);
    render();
  }

  // A row from the stream: tells once, when a marked person is 在席.
  function arrived(row) {
    if (row.state !== "available") return;
    const set = watched();
    if (!set.delete(row.account)) return;
    keep(set);
    const text = bt("back").replace("{name}", row.name);
    if ("Notification" in window && Notification.permission === "granted") {
      new Notification(text, { tag: "back-" + row.account });
    } else {
      banner(text);
    }
  }

  function banner(text) {
    const box = el("div", "back-banner");
    box.setAttribute("role", "alert");
    const close = el("button", null, bt("close"));
    close.type = "button";
    close.addEventListener("click", () => box.remove());
    box.append(el("span", null, text), close);
    document.body.insertBefore(box, document.querySelector("nav"));
  }

  return { decorate, arrived };
})();
