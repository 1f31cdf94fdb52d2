// Refreshes the figures: fetches the server-rendered live part and puts it in place. No build step,
// no library; the page works without it (reload for new figures).
"use strict";
(function () {
  var INTERVAL_MS = 2000;
  var live = document.getElementById("live");
  if (!live) {
    return;
  }
  var url = live.getAttribute("data-live");
  var busy = false;

  function refresh() {
    if (busy || document.hidden) {
      return;
    }
    busy = true;
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (response.status === 401 || response.status === 403) {
          window.location.assign("/console/login");
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html !== null) {
          live.innerHTML = html;  // rendered and escaped by the server
          live.removeAttribute("data-stale");
        }
      })
      .catch(function () {
        live.setAttribute("data-stale", "true");
      })
      .finally(function () {
        busy = false;
      });
  }

  window.setInterval(refresh, INTERVAL_MS);
})();
