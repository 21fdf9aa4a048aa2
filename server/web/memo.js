// A row's contact and 伝言メモ on the board: the links that call the desk
// phone's extension (tel: or sip:, as the company set it), the mobile
// (tel:) and write a mail (mailto:); the memos waiting for the person (how
// many for everyone, what they say for the person and the memo's taker,
// who may clear them); and the form a desk worker leaves a memo with
// ("電話がありました": who called, the number to call back, the message).
// The server says who took it and when, mails it to the colleague and puts
// it on every open board. Uses board.js's state, $ and el.
"use strict";

const MEMO_TEXT = {
  ja: {
    ext: "内線", mobile: "携帯", mail: "メール", memos: "伝言 {n}件", leave: "伝言を残す",
    title: "伝言メモ（電話がありました）", forWhom: "{name} さんへ", caller: "相手（会社名・氏名）",
    callback: "折り返し番号", message: "用件", send: "残す", cancel: "やめる", clear: "確認済み",
    takenBy: "受付", left: "伝言を残しました", leftMailed: "伝言を残し、メールで届けました",
    notLeft: "伝言を残せませんでした", offline: "サーバーに接続できません。もう一度お試しください。",
    callbackShort: "折り返し",
  },
  en: {
    ext: "Ext.", mobile: "Mobile", mail: "Mail", memos: "{n} message(s)", leave: "Leave a message",
    title: "Phone message", forWhom: "For {name}", caller: "Caller (company, name)",
    callback: "Call back on", message: "Message", send: "Leave", cancel: "Cancel", clear: "Done",
    takenBy: "taken by", left: "Message left", leftMailed: "Message left and mailed",
    notLeft: "The message was not left", offline: "The server cannot be reached. Please try again.",
    callbackShort: "call back",
  },
};

const BoardMemo = (() => {
  const mt = (key) => (MEMO_TEXT[state.lang] || MEMO_TEXT.ja)[key] || key;

  function link(cls, href, text) {
    const a = el("a", cls, text);
    a.href = href;
    return a;
  }

  function hm(iso) {
    const d = new Date(iso);
    return (d.getMonth() + 1) + "/" + d.getDate() + " " +
      String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
  }

  // The contact links and memos under the name in a person's row.
  function decorate(cell, p) {
    const c = p.contact || {};
    const contact = el("div", "contact");
    if (c.extension) {
      const text = mt("ext") + " " + c.extension;
      contact.append(c.extension_uri ? link("call-ext", c.extension_uri, text) : el("span", "ext", text));
    }
    if (c.mobile && c.mobile_uri) contact.append(link("call-mobile", c.mobile_uri, mt("mobile") + " " + c.mobile));
    if (c.mail_uri) contact.append(link("mail", c.mail_uri, mt("mail")));
    const memos = p.memos || { count: 0, items: [] };
    const mine = p.account === state.board.account;
    if (!mine) {
      const leave = el("button", "memo-leave", mt("leave"));
      leave.type = "button";
      leave.addEventListener("click", () => openForm(p));
      contact.append(leave);
    }
    if (contact.childNodes.length) cell.append(contact);
    if (memos.count > 0) cell.append(el("span", "memo-count", mt("memos").replace("{n}", memos.count)));
    if (memos.items.length) {
      const list = el("ul", "memos");
      for (const m of memos.items) list.append(memoItem(p, m));
      cell.append(list);
    }
  }

  function memoItem(p, m) {
    const li = el("li", "memo");
    li.dataset.memo = m.id;
    li.append(el("span", "memo-time", hm(m.taken_at)), " ", el("strong", "memo-caller", m.caller));
    if (m.callback) {
      li.append(" " + mt("callbackShort") + " ");
      li.append(m.callback_uri ? link("memo-callback", m.callback_uri, m.callback) : el("span", "memo-callback", m.callback));
    }
    if (m.message) li.append(el("div", "memo-message", m.message));
    li.append(el("div", "memo-taker small", mt("takenBy") + ": " + m.taken_by));
    const done = el("button", "memo-clear", mt("clear"));
    done.type = "button";
    done.addEventListener("click", () => clearMemo(p.account, m.id, done));
    li.append(done);
    return li;
  }

  async function post(path, body) {
    return fetch(path, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": state.board.csrf },
      body: JSON.stringify(body),
    });
  }

  // Clearing: the row changes when the stream brings it back.
  async function clearMemo(account, id, button) {
    button.disabled = true;
    try {
      const response = await post("/api/memos/clear", { account, id });
      if (response.status === 401) { toSignIn(); return; }
      if (!response.ok && response.status !== 404) button.disabled = false;
    } catch (e) {
      button.disabled = false;
    }
  }

  // The form, made once and reused; a <dialog> so that Escape closes it.
  function dialog() {
    let d = $("memo-dialog");
    if (d) return d;
    d = el("dialog");
    d.id = "memo-dialog";
    const form = el("form");
    form.id = "memo-form";
    const field = (id, key, input) => {
      const label = el("label", null);
      label.append(el("span", "memo-label", mt(key)), input);
      input.id = id;
      label.dataset.key = key;
      return label;
    };
    const caller = el("input");
    caller.required = true;
    caller.maxLength = 60;
    caller.autocomplete = "off";
    const callback = el("input");
    callback.type = "tel";
    callback.maxLength = 30;
    callback.autocomplete = "off";
    const message = el("textarea");
    message.maxLength = 200;
    message.rows = 3;
    const send = el("button", null, mt("send"));
    send.type = "submit";
    send.id = "memo-send";
    const cancel = el("button", null, mt("cancel"));
    cancel.type = "button";
    cancel.addEventListener("click", () => d.close());
    const result = el("p", "memo-result");
    result.id = "memo-result";
    result.setAttribute("role", "status");
    form.append(
      el("h2", "memo-title"), el("p", "memo-for"),
      field("memo-caller", "caller", caller), field("memo-callback", "callback", callback),
      field("memo-message", "message", message), el("div", "memo-buttons"), result,
    );
    form.querySelector(".memo-buttons").append(send, cancel);
    form.addEventListener("submit", (e) => { e.preventDefault(); leave(); });
    d.append(form);
    document.body.append(d);
    return d;
  }

  let leavingFor = null;

  function openForm(p) {
    const d = dialog();
    leavingFor = p.account;
    d.querySelector(".memo-title").textContent = mt("title");
    d.querySelector(".memo-for").textContent = mt("forWhom").replace("{name}", p.name);
    d.querySelectorAll("label[data-key]").forEach((l) => { l.querySelector(".memo-label").textContent = mt(l.dataset.key); });
    $("memo-send").textContent = mt("send");
    for (const id of ["memo-caller", "memo-callback", "memo-message"]) $(id).value = "";
    $("memo-result").textContent = "";
    d.showModal();
    $("memo-caller").focus();
  }

  async function leave() {
    const body = {
      for: leavingFor, caller: $("memo-caller").value,
      callback: $("memo-callback").value || null, message: $("memo-message").value || null,
    };
    let response;
    try {
      response = await post("/api/memos", body);
    } catch (e) {
      $("memo-result").textContent = mt("notLeft") + ": " + mt("offline");
      return;
    }
    if (response.status === 401) { toSignIn(); return; }
    const answer = await response.json().catch(() => null);
    if (!response.ok) {
      $("memo-result").textContent = mt("notLeft") + (answer && answer.error ? ": " + answer.error : "");
      return;
    }
    $("memo-dialog").close();
    const said = $("memo-said") || el("p", "ok");
    said.id = "memo-said";
    said.setAttribute("role", "status");
    said.textContent = mt(answer && answer.mailed ? "leftMailed" : "left");
    if (!said.parentNode) $("mine").append(said);
  }

  return { decorate };
})();
