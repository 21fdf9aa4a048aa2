// The Phones page: everyone's enrolled phones, a new enrolment code as a QR
// code and link, and revoking a lost phone. Text in Japanese and English;
// nothing from the server is put into the page as HTML.
"use strict";

const ja = document.documentElement.lang === "ja";
const T = ja ? {
  title: "端末の登録", board: "在席ボードへ", intro: "作業員のスマートフォンを、情報システム担当が発行するコードで設定します。コードは24時間有効で、一度だけ使えます。",
  link: "QRコードを読み取れない場合は、このリンクを端末で開いてください:", person: "氏名", department: "部署", phones: "登録済みの端末",
  make: "コードを発行", revoke: "失効", revoked: "失効済み", seen: "最終利用", never: "未使用", none: "なし",
  codeFor: (n) => `${n} さんの登録コード`, until: (t) => `有効期限: ${t}`, revokedDone: (n) => `${n} の端末を失効しました。次のメールから受け付けません。メールのパスワード（またはセッション）もリセットしてください。`,
  confirm: (d, n) => `${n} さんの端末「${d}」を失効しますか?`,
} : {
  title: "Phones", board: "To the board", intro: "Field workers' phones are set up with a code IT makes here. A code is valid for 24 hours and works once.",
  link: "Where the QR code cannot be scanned, open this link on the phone:", person: "Name", department: "Department", phones: "Enrolled phones",
  make: "Make a code", revoke: "Revoke", revoked: "revoked", seen: "last seen", never: "never", none: "none",
  codeFor: (n) => `Enrolment code for ${n}`, until: (t) => `Valid until ${t}`, revokedDone: (n) => `${n}'s phone is revoked: its next mail is refused. Reset their mail password (or sessions) too.`,
  confirm: (d, n) => `Revoke ${n}'s phone "${d}"?`,
};

let csrf = "";

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

async function post(path, body) {
  const r = await fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json", "x-csrf-token": csrf },
    body: JSON.stringify(body),
  });
  const answer = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(answer.error || String(r.status));
  return answer;
}

async function makeCode(person) {
  const answer = await post("/api/phones/code", { account: person.account });
  document.getElementById("code-for").textContent = T.codeFor(person.name);
  document.getElementById("qr").src = answer.qr;
  document.getElementById("link").textContent = answer.link;
  document.getElementById("expires").textContent = T.until(new Date(answer.expires).toLocaleString());
  document.getElementById("code").hidden = false;
}

function phoneLine(person, phone) {
  const li = el("li");
  li.dataset.phone = String(phone.id);
  const seen = phone.last_seen ? new Date(phone.last_seen).toLocaleString() : T.never;
  li.append(el("span", `${phone.name} (${T.seen}: ${seen})`));
  if (phone.revoked) {
    li.append(el("span", ` — ${T.revoked}`, "revoked"));
  } else {
    const b = el("button", T.revoke);
    b.type = "button";
    b.className = "revoke";
    b.addEventListener("click", async () => {
      if (!window.confirm(T.confirm(phone.name, person.name))) return;
      try {
        await post("/api/phones/revoke", { account: person.account, id: phone.id });
        document.getElementById("result").textContent = T.revokedDone(person.name);
        await load();
      } catch (e) {
        document.getElementById("result").textContent = e.message;
      }
    });
    li.append(" ", b);
  }
  return li;
}

async function load() {
  const r = await fetch("/api/phones");
  if (!r.ok) {
    document.getElementById("result").textContent = String(r.status);
    return;
  }
  const data = await r.json();
  csrf = data.csrf;
  const body = document.querySelector("#people tbody");
  body.replaceChildren();
  for (const person of data.people) {
    const tr = el("tr");
    tr.dataset.account = person.account;
    tr.append(el("td", person.name), el("td", person.department || ""));
    const phones = el("td");
    if (person.phones.length === 0) phones.append(el("span", T.none, "small"));
    const list = el("ul");
    for (const phone of person.phones) list.append(phoneLine(person, phone));
    phones.append(list);
    const make = el("button", T.make);
    make.type = "button";
    make.className = "make-code";
    make.addEventListener("click", () => makeCode(person).catch((e) => {
      document.getElementById("result").textContent = e.message;
    }));
    const action = el("td");
    action.append(make);
    tr.append(phones, action);
    body.append(tr);
  }
}

for (const e of document.querySelectorAll("[data-t]")) e.textContent = T[e.dataset.t];
load();
