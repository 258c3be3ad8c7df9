// Live updates: the console's event stream says when a report the person may see changed; the
// page then fetches its "content" fragment (the same address with fragment=content) and swaps
// it in, at most once a second. Everything works without this script; it only saves a reload.
(function () {
  "use strict";
  var main = document.getElementById("main");
  var live = document.getElementById("live");
  if (!main || !live || !main.dataset.events || !window.EventSource || !window.fetch) {
    return;
  }
  var status = document.getElementById("updated");
  var minGap = 1000; // ms between two refreshes
  var last = 0, timer = null, running = false, again = false, opened = false;

  function schedule() {
    if (timer) { return; }
    timer = setTimeout(refresh, Math.max(0, last + minGap - Date.now()));
  }

  function refresh() {
    timer = null;
    if (running) { again = true; return; }
    running = true;
    last = Date.now();
    var url = new URL(window.location.href);
    url.searchParams.set("fragment", "content");
    fetch(url.toString(), { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        live.innerHTML = html; // server-rendered and escaped, like the page itself
        live.dataset.revision = String((Number(live.dataset.revision) || 0) + 1);
        if (status) { status.textContent = "Updated at " + new Date().toLocaleTimeString(); }
      })
      .catch(function () {
        if (status) { status.textContent = "Could not update; reload the page."; }
      })
      .then(function () {
        running = false;
        if (again) { again = false; schedule(); }
      });
  }

  var events = new EventSource(main.dataset.events);
  events.addEventListener("change", schedule);
  // A reconnection may have missed changes: refresh once after it.
  events.addEventListener("open", function () {
    if (opened) { schedule(); }
    opened = true;
  });
  window.addEventListener("pagehide", function () { events.close(); });
}());
