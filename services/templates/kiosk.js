// The kiosk's check-in screen (/kiosk/{office}): after an answer, back to the
// empty form after a few seconds (the page has a link for that too).
(function () {
  'use strict';
  var answer = document.getElementById('kiosk-antwort');
  if (answer) {
    var back = answer.getAttribute('data-zurueck');
    window.setTimeout(function () { window.location.assign(back); }, 8000);
    return;
  }
  var field = document.getElementById('code');
  if (field) field.focus();
})();
