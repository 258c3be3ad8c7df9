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

  var events = null;
  function connect() {
    events = new EventSource(main.dataset.events);
    events.addEventListener("change", schedule);
    // A reconnection may have missed changes: refresh once after it. data-stream tells that
    // the console has registered the stream (tests wait for it rather than sleep).
    events.addEventListener("open", function () {
      live.dataset.stream = "open";
      if (opened) { schedule(); }
      opened = true;
    });
  }
  connect();
  // A page kept for back and forward closes its stream while hidden and opens it again,
  // refreshing, when it is shown again.
  window.addEventListener("pagehide", function () {
    events.close();
    delete live.dataset.stream;
  });
  window.addEventListener("pageshow", function (e) {
    if (e.persisted) { connect(); }
  });
}());

// Forms send only the fields that are filled in, so their addresses stay short and readable;
// the server ignores empty fields anyway.
(function () {
  "use strict";
  document.querySelectorAll("form.filters").forEach(function (form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll("input[name], select[name]").forEach(function (el) {
        if (el.value === "") { el.disabled = true; }
      });
    });
  });
  // On a phone the form starts folded, so the results come first; it stays open on a larger
  // screen, and without this script.
  if (window.matchMedia && window.matchMedia("(max-width: 720px)").matches) {
    document.querySelectorAll("form.filters details[open]").forEach(function (d) { d.open = false; });
  }
  // A page shown again from the history must not keep the fields disabled.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form.filters [disabled]").forEach(function (el) { el.disabled = false; });
  });
}());
