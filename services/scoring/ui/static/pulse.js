// Progressive enhancement only: every page works without this file.
// An element with data-refresh="URL" is refreshed every data-every seconds from that URL,
// which answers the element's inner HTML. A refresh waits while focus is inside the element,
// so a keyboard user is never moved away from the button they are on.
(function () {
  "use strict";

  function refresher(element) {
    var last = null;
    return function refresh() {
      if (document.hidden || element.contains(document.activeElement)) {
        return;
      }
      fetch(element.dataset.refresh, {
        credentials: "same-origin",
        headers: { "X-Pulse-Fragment": "1" },
      }).then(function (answer) {
        return answer.ok ? answer.text() : null;
      }).then(function (html) {
        // Replaced only when it changed: a live region rewritten every few seconds for
        // nothing would be noise to a screen reader.
        if (html !== null && html !== last) {
          element.innerHTML = html;
          last = html;
        }
      }).catch(function () { /* offline for a moment: the next round tries again */ });
    };
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-refresh]").forEach(function (element) {
      var seconds = Number(element.dataset.every) || 10;
      setInterval(refresher(element), seconds * 1000);
    });
  });
})();
