// The clerk's desk page (/staff/{office}/schalter/{counter}): follows the
// office floor's change stream and swaps in the fresh queue, parked list and
// current visitor (fetched as the page itself), without a reload. Once a
// minute as well, for the waiting times. The page works without it.
(function () {
  'use strict';
  var root = document.getElementById('schalter');
  if (!root || !window.fetch || !window.DOMParser) return;
  var PARTS = ['am-schalter', 'warteschlange', 'zurueckgestellt'];
  var busy = false;
  var again = false;

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(window.location.pathname, { credentials: 'same-origin', headers: { Accept: 'text/html' } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, 'text/html');
        PARTS.forEach(function (id) {
          var now = document.getElementById(id);
          var next = fresh.getElementById(id);
          // Never pull a button from under the clerk's keyboard focus.
          if (now && next && !now.contains(document.activeElement)) now.replaceWith(document.importNode(next, true));
        });
      })
      .catch(function () {})
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  if (window.EventSource) {
    var source = new EventSource(root.getAttribute('data-stream'));
    source.addEventListener('changed', refresh);
    source.addEventListener('open', refresh);
  }
  window.setInterval(refresh, 60000);
})();
