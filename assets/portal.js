// The Support tab's live updates: the tenant's own event feed over an EventSource (it sends
// the session cookie), so a reply from the support team appears in the open thread and the
// unread count follows new notifications, without a reload. Everything works without it.
(function () {
  "use strict";
  var link = document.querySelector("[data-events]");
  if (!link || !window.EventSource) { return; }
  var count = document.getElementById("unread-count");
  var note = document.getElementById("live-note");
  var thread = document.getElementById("thread");
  var statusBadge = document.getElementById("ticket-status");

  function say(text) {
    if (!note) { return; }
    note.textContent = text;
    note.hidden = false;
  }

  function humanize(s) {
    s = String(s || "").replace(/_/g, " ");
    return s.charAt(0).toUpperCase() + s.slice(1);
  }

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function stamp(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) { return iso; }
    return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) +
      " " + pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + " UTC";
  }

  function appendMessage(m) {
    if (!thread || thread.querySelector('[data-message="' + m.id + '"]')) { return; }
    var mine = m.author === "customer";
    var article = document.createElement("article");
    article.className = "message message-" + (mine ? "customer" : "operator") + " message-new";
    article.setAttribute("data-message", m.id);
    var header = document.createElement("header");
    var author = document.createElement("strong");
    author.className = "author";
    author.textContent = mine ? "You" : "Support · " + (m.author_name || "team");
    var time = document.createElement("time");
    time.setAttribute("datetime", m.created_at);
    time.textContent = stamp(m.created_at);
    header.appendChild(author);
    header.appendChild(document.createTextNode(" "));
    header.appendChild(time);
    var body = document.createElement("div");
    body.className = "body";
    body.textContent = m.body;
    article.appendChild(header);
    article.appendChild(body);
    thread.appendChild(article);
  }

  function setStatus(status) {
    if (!statusBadge) { return; }
    var badge = statusBadge.querySelector(".badge");
    if (!badge) { return; }
    badge.className = "badge status-" + status;
    badge.textContent = humanize(status);
    var detail = document.getElementById("ticket-status-detail");
    if (detail) { detail.textContent = humanize(status); }
  }

  function payload(e) {
    try { return JSON.parse(e.data); } catch (_) { return null; }
  }

  var source = new EventSource(link.getAttribute("data-events"));
  source.addEventListener("notification.created", function (e) {
    var event = payload(e);
    if (count) { count.textContent = String((parseInt(count.textContent, 10) || 0) + 1); }
    link.classList.add("has-unread");
    var title = event && event.data && event.data.notification && event.data.notification.title;
    if (title) { say("New: " + title); }
  });
  source.addEventListener("support.message_created", function (e) {
    var event = payload(e);
    if (!event || !event.data || !event.data.message) { return; }
    var current = thread && thread.getAttribute("data-ticket");
    if (current && current === event.data.ticket_id) {
      appendMessage(event.data.message);
      if (event.data.ticket_status) { setStatus(event.data.ticket_status); }
    } else if (!current && event.data.message.author !== "customer") {
      say("Support answered one of your tickets. Reload to see it.");
    }
  });
  source.addEventListener("support.ticket_status_changed", function (e) {
    var event = payload(e);
    var change = event && event.data;
    var current = thread && thread.getAttribute("data-ticket");
    if (change && current && change.ticket_id === current) { setStatus(change.to); }
  });
})();
