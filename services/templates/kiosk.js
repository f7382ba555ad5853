// The kiosk (/kiosk/{office}): after a check-in answer, back to the empty
// form after a few seconds (the page has a link for that too); on the form,
// the focus goes to the ticket form's message if there is one, else to the
// code field (a hand scanner types there), and a double press of "Wartemarke
// ziehen" draws one ticket. On a ticket (Wartemarke) page:
// print it once when it first opens, show the "Drucken" button, and go back
// to the start after a minute so the next visitor does not see it.
(function () {
  'use strict';
  var answer = document.getElementById('kiosk-antwort');
  if (answer) {
    var back = answer.getAttribute('data-zurueck');
    window.setTimeout(function () { window.location.assign(back); }, 8000);
    return;
  }
  var ticket = document.getElementById('wartemarke');
  if (ticket) {
    var start = ticket.getAttribute('data-zurueck');
    var button = document.getElementById('drucken');
    if (button) {
      button.hidden = false;
      button.addEventListener('click', function () { window.print(); });
    }
    // Printed once per ticket on this kiosk: a reload does not print again.
    var key = 'wartemarke-gedruckt:' + ticket.getAttribute('data-marke');
    var printed = false;
    try { printed = window.sessionStorage.getItem(key) === '1'; } catch (e) { printed = false; }
    if (!printed) {
      try { window.sessionStorage.setItem(key, '1'); } catch (e) { /* printing still works */ }
      var print = function () { window.print(); };
      if (document.readyState === 'complete') print();
      else window.addEventListener('load', print);
    }
    window.setTimeout(function () { window.location.assign(start); }, 60000);
    return;
  }
  // One ticket per press: a second submit while the first is on its way is dropped.
  var ticketForm = document.getElementById('marke-formular');
  if (ticketForm) {
    var sent = false;
    ticketForm.addEventListener('submit', function (event) {
      if (sent) event.preventDefault();
      sent = true;
    });
  }
  var message = document.getElementById('marke-fehler') || document.getElementById('marke-auswahl-fehler');
  if (message) {
    message.focus();
    return;
  }
  var field = document.getElementById('code');
  if (field) field.focus();
})();
