// The Phones page's wall displays (TV mode): issue a one-time display link
// for a screen by the door, list the screens' sessions, revoke one (its
// screen stops at once). Uses phones.js's post, el, ja and csrf.
"use strict";

const D = ja ? {
  title: "壁掛け表示（TV）", intro: "受付や部署の壁の画面に、在席ボードを読み取り専用で大きく表示します。発行したリンクを画面のブラウザで一度だけ開きます。表示は発行した管理者が見られる範囲です。",
  name: "画面の名前", issue: "表示用リンクを発行", revoke: "取り消し", until: (t) => `期限 ${t}`, none: "表示中の画面はありません",
  issued: (t) => `このリンクを画面で開いてください（${t} まで、一度だけ有効）:`, revoked: (n) => `「${n}」の表示を取り消しました。`,
} : {
  title: "Wall displays (TV)", intro: "A read-only board in large type on a screen by the door. Open the link issued here once on the screen's browser. It shows what the issuing administrator may see.",
  name: "Screen name", issue: "Issue a display link", revoke: "Revoke", until: (t) => `until ${t}`, none: "No screen shows the board",
  issued: (t) => `Open this link on the screen (once, until ${t}):`, revoked: (n) => `"${n}" no longer shows the board.`,
};

async function loadDisplays() {
  const r = await fetch("/api/tv", { credentials: "same-origin", cache: "no-store" });
  if (!r.ok) return;
  const { displays } = await r.json();
  const list = document.getElementById("display-list");
  list.replaceChildren();
  if (!displays.length) list.append(el("li", D.none, "small"));
  for (const d of displays) {
    const li = el("li");
    li.dataset.display = d.name;
    li.append(el("span", `${d.name} (${d.account}, ${D.until(new Date(d.expires).toLocaleDateString())}) `));
    const b = el("button", D.revoke);
    b.type = "button";
    b.className = "revoke-display";
    b.addEventListener("click", async () => {
      await post("/api/tv/revoke", { id: d.id });
      document.getElementById("result").textContent = D.revoked(d.name);
      loadDisplays();
    });
    li.append(b);
    list.append(li);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-d]").forEach((e) => { e.textContent = D[e.dataset.d]; });
  document.getElementById("display-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const answer = await post("/api/tv", { name: document.getElementById("display-name").value });
    const out = document.getElementById("display-link");
    out.textContent = D.issued(new Date(answer.expires).toLocaleString()) + "\n" + answer.link;
    out.dataset.link = answer.link;
    out.hidden = false;
  });
  // After phones.js has read the page's CSRF token.
  setTimeout(loadDisplays, 0);
});
