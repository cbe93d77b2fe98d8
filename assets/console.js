// Helpline console: live updates, SLA countdowns and keyboard. The pages work without it.
(function () {
  "use strict";
  var page = document.body.getAttribute("data-page");

  function span(seconds) {
    var s = Math.abs(Math.round(seconds));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (d > 0) return d + "d " + h + "h";
    if (h > 0) return h + "h " + (m < 10 ? "0" : "") + m + "m";
    if (m > 0) return m + "m";
    return s + "s";
  }

  // SLA countdowns: amber from the warning (80 % of the window), red once breached.
  function tickSla() {
    var now = Date.now();
    document.querySelectorAll(".sla[data-due]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-due"));
      var warn = Date.parse(el.getAttribute("data-warn"));
      var state = now > due ? "breached" : now >= warn ? "warn" : "ok";
      var label = { ok: "Due", warn: "Due soon", breached: "Breached" }[state];
      el.className = "sla sla-" + state;
      var l = el.querySelector(".sla-label");
      var t = el.querySelector("time");
      if (l) l.textContent = label;
      if (t) t.textContent = due >= now ? "in " + span((due - now) / 1000) : span((now - due) / 1000) + " ago";
    });
  }
  tickSla();
  setInterval(tickSla, 1000);

  function fetchPage() {
    return fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (res) {
        if (res.status === 401 || res.redirected) { window.location.reload(); throw new Error("signed out"); }
        return res.text();
      })
      .then(function (html) { return new DOMParser().parseFromString(html, "text/html"); });
  }

  function swap(doc, selector) {
    var fresh = doc.querySelector(selector);
    var old = document.querySelector(selector);
    if (fresh && old) old.replaceWith(document.importNode(fresh, true));
  }

  function say(text) {
    var note = document.getElementById("live-note");
    if (!note) return;
    note.textContent = text;
    note.hidden = false;
  }

  // Keyboard: j/k move, Enter opens, r replies, ? lists the keys.
  var selected = -1;
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("tr.ticket-row")); }
  function select(i) {
    var all = rows();
    if (all.length === 0) return;
    selected = Math.max(0, Math.min(all.length - 1, i));
    all.forEach(function (r, n) { r.classList.toggle("selected", n === selected); r.setAttribute("aria-selected", n === selected ? "true" : "false"); });
    var link = all[selected].querySelector("a.subject");
    if (link) link.focus();
  }
  function selectedLink() {
    var row = rows()[selected];
    return row ? row.querySelector("a.subject") : null;
  }
  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
    var help = document.getElementById("help");
    if (e.key === "?") { if (help && help.showModal && !help.open) help.showModal(); e.preventDefault(); return; }
    if (page === "inbox") {
      if (e.key === "j") { select(selected + 1); e.preventDefault(); }
      else if (e.key === "k") { select(selected < 0 ? 0 : selected - 1); e.preventDefault(); }
      else if (e.key === "Enter" && selected >= 0 && document.activeElement === document.body) {
        var a = selectedLink(); if (a) { window.location.href = a.href; e.preventDefault(); }
      } else if (e.key === "r") {
        var l = selectedLink() || (rows()[0] && rows()[0].querySelector("a.subject"));
        if (l) { window.location.href = l.href + "#reply"; e.preventDefault(); }
      }
    } else if (page === "ticket" && e.key === "r") {
      var box = document.getElementById("reply-body");
      if (box) { box.focus(); e.preventDefault(); }
    }
  });
  if (page === "ticket" && window.location.hash === "#reply") {
    var box = document.getElementById("reply-body");
    if (box) box.focus();
  }

  // Live updates from the operators' event feed.
  var pending = null;
  function soon(fn) { if (pending) clearTimeout(pending); pending = setTimeout(fn, 250); }

  function refreshInbox() {
    var current = rows()[selected];
    var keep = current ? current.getAttribute("data-ticket") : null;
    fetchPage().then(function (doc) {
      swap(doc, "#inbox-list");
      swap(doc, "#inbox-count");
      swap(doc, ".pager");
      tickSla();
      if (keep) {
        var i = rows().findIndex(function (r) { return r.getAttribute("data-ticket") === keep; });
        if (i >= 0) { selected = i; rows()[i].classList.add("selected"); }
      }
      say("Updated " + new Date().toLocaleTimeString());
    }).catch(function () {});
  }

  function refreshThread() {
    fetchPage().then(function (doc) {
      swap(doc, "#thread");
      say("New activity on this ticket. Your reply will not overwrite it: if the ticket changed, sending warns you first.");
    }).catch(function () {});
  }

  if ((page === "inbox" || page === "ticket") && window.EventSource) {
    var head = document.getElementById("ticket-head");
    var ticketId = head ? head.getAttribute("data-ticket") : null;
    var source = new EventSource("/console/events");
    var onEvent = function (e) {
      if (page === "inbox") soon(refreshInbox);
      else if (ticketId && e.data && e.data.indexOf(ticketId) >= 0) soon(refreshThread);
    };
    ["support.ticket_created", "support.message_created", "support.ticket_status_changed",
     "support.ticket_updated", "support.ticket_merged", "support.sla_warning", "support.sla_breached",
     "support.bounty_awarded", "message"].forEach(function (type) { source.addEventListener(type, onEvent); });
    source.addEventListener("reset", function () { soon(page === "inbox" ? refreshInbox : refreshThread); });
  }

  // Queues: refresh every few seconds.
  if (page === "queues") {
    setInterval(function () {
      fetchPage().then(function (doc) { swap(doc, "#queues"); swap(doc, "#dead-jobs"); }).catch(function () {});
    }, 3000);
  }
})();
