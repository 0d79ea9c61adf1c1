/* The desk's behaviour (no inline scripts anywhere: the CSP forbids them).
 * - "/" focuses the search box; j/k move through the rows of the focused list; Enter opens.
 * - SLA countdowns ([data-testid=sla-countdown][data-due]) tick every second.
 * - Live updates: one EventSource on /desk/events; a message refreshes every box whose
 *   data-live-topics names its topic (htmx re-reads the box from the server with the
 *   user's session, so the backends' scope rules decide what appears). On (re)connect every
 *   live box is refreshed, so nothing that happened while the stream was down is missed.
 */
(function () {
  "use strict";

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-row]"));
  }

  document.addEventListener("keydown", function (ev) {
    var t = ev.target;
    var typing = t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
    if (ev.key === "Escape" && typing) { t.blur(); return; }
    if (typing || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === "/") {
      var box = document.querySelector("[data-testid=search]");
      if (box) { ev.preventDefault(); box.focus(); box.select(); }
    } else if (ev.key === "j" || ev.key === "k") {
      var all = rows();
      if (!all.length) return;
      var i = all.indexOf(document.activeElement);
      i = ev.key === "j" ? Math.min(all.length - 1, i + 1) : Math.max(0, i < 0 ? 0 : i - 1);
      all[i].focus();
      ev.preventDefault();
    }
  });

  // --- SLA countdowns ---------------------------------------------------------------------
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-testid=sla-countdown][data-due]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-due"));
      if (isNaN(due)) return;
      var left = Math.round((due - now) / 1000);
      var late = left < 0;
      var s = Math.abs(left);
      var text = (s >= 3600 ? Math.floor(s / 3600) + ":" : "") + pad(Math.floor(s % 3600 / 60)) + ":" + pad(s % 60);
      el.textContent = (late ? (el.getAttribute("data-late") || "late") + " " : "") + text +
        (late ? "" : " " + (el.getAttribute("data-left") || ""));
      el.classList.toggle("late", late);
      el.classList.toggle("soon", !late && left <= 120);
      el.setAttribute("data-seconds", String(left));
    });
  }
  setInterval(tick, 1000);

  // --- live updates ---------------------------------------------------------------------
  function refresh(topic, waybill) {
    document.querySelectorAll("[data-live-topics]").forEach(function (el) {
      if (topic && (" " + el.getAttribute("data-live-topics") + " ").indexOf(" " + topic + " ") < 0) return;
      var only = el.getAttribute("data-live-waybill");
      if (only && waybill && only !== waybill) return;
      if (window.htmx) window.htmx.trigger(el, "lcs:refresh");
    });
  }

  function feed(text) {
    var list = document.getElementById("live-feed");
    if (!list || !text) return;
    var li = document.createElement("li");
    li.textContent = text;  // text, never HTML
    list.insertBefore(li, list.firstChild);
    while (list.children.length > 5) list.removeChild(list.lastChild);
  }

  function status(state) {
    var bar = document.querySelector("[data-testid=live-status]");
    if (!bar) return;
    bar.setAttribute("data-state", state);
    var label = bar.querySelector(".live-text");
    if (label) label.textContent = label.getAttribute(state === "open" ? "data-connected" : "data-lost") || state;
  }

  function connect() {
    var url = document.body.getAttribute("data-live");
    if (!url || !window.EventSource) return;
    var source = new EventSource(url);
    var opened = false;
    source.addEventListener("open", function () {
      status("open");
      if (opened) refresh(null, null);  // reconnected: re-read every list
      opened = true;
    });
    source.addEventListener("error", function () { status("lost"); });
    source.addEventListener("live", function (ev) {
      var msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      feed(msg.text);
      refresh(msg.topic, msg.waybill);
    });
    source.addEventListener("reload", function () { refresh(null, null); });
    source.addEventListener("signed-out", function () { source.close(); window.location.reload(); });
  }

  document.addEventListener("htmx:afterSwap", tick);
  document.addEventListener("DOMContentLoaded", function () { tick(); connect(); });
})();
