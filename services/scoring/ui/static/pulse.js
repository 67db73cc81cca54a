// Progressive enhancement only: every page works without this file.
// An element with data-refresh="URL" is refreshed every data-every seconds from that URL,
// which answers the element's inner HTML. A refresh waits while focus is inside the element,
// so a keyboard user is never moved away from the button they are on.
(function () {
  "use strict";

  function refresh(element) {
    if (document.hidden || element.contains(document.activeElement)) {
      return Promise.resolve();
    }
    return fetch(element.dataset.refresh, {
      credentials: "same-origin",
      headers: { "X-Pulse-Fragment": "1" },
    }).then(function (answer) {
      if (answer.ok) {
        return answer.text().then(function (html) {
          element.innerHTML = html;
          element.dataset.refreshedAt = new Date().toISOString();
        });
      }
    }).catch(function () { /* offline for a moment: the next round tries again */ });
  }

  function start(element) {
    var seconds = Number(element.dataset.every) || 10;
    setInterval(function () { refresh(element); }, seconds * 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-refresh]").forEach(start);
  });
})();
