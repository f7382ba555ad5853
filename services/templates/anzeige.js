// The waiting room's call display (/anzeige/{office}): follows the office's
// call stream (server-sent events). When the connection drops (the server
// restarts), the browser's EventSource reconnects by itself every few seconds
// and sends Last-Event-ID, so no call is lost or shown twice. If it gives up
// (an error answer, e.g. a proxy's 502 while the server is away), this script
// tries again from the last call seen, waiting longer each time (1 s, 2 s,
// 4 s … at most 30 s); the page says so meanwhile. Before each such try it
// asks for the page itself: a device no longer allowed (401, 403, 404) loads
// it, so the screen shows the server's explanation instead of retrying for
// ever (each try would count as a wrong token against the office's address).
// Each new call rings a gong (Web Audio, no file) and is spoken
// in German when the browser can (speechSynthesis). Browsers keep sound off
// until someone interacts with the page: "Ton einschalten" does that once.
(function () {
  'use strict';
  var root = document.getElementById('anzeige');
  if (!root || !window.EventSource) return;
  var current = document.getElementById('aktuell');
  var previous = document.getElementById('vorherige');
  var waiting = document.getElementById('wartend');
  var connection = document.getElementById('verbindung');
  var soundButton = document.getElementById('ton');
  var PREVIOUS = 8;
  var base = root.getAttribute('data-stream').split('?')[0];
  var lastId = (root.getAttribute('data-stream').match(/after=(\d+)/) || [])[1] || null;
  var audio = null;
  var hasCall = !!current.querySelector('strong');

  function ensureAudio() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!audio && Context) audio = new Context();
    if (audio && audio.state === 'suspended') audio.resume();
    return audio;
  }

  function gong() {
    var context = ensureAudio();
    if (!context) return;
    [[660, 0], [523.25, 0.45]].forEach(function (tone) {
      var oscillator = context.createOscillator();
      var gain = context.createGain();
      var start = context.currentTime + tone[1];
      oscillator.type = 'sine';
      oscillator.frequency.value = tone[0];
      gain.gain.setValueAtTime(0.0001, start);
      gain.gain.exponentialRampToValueAtTime(0.4, start + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + 1.4);
      oscillator.connect(gain).connect(context.destination);
      oscillator.start(start);
      oscillator.stop(start + 1.5);
    });
  }

  function speak(call) {
    if (!window.speechSynthesis || !window.SpeechSynthesisUtterance) return;
    var text = 'Nummer ' + call.number.split('').join(' ') + ', bitte zu Schalter ' + call.counter + '.';
    var utterance = new SpeechSynthesisUtterance(text);
    utterance.lang = 'de-DE';
    utterance.rate = 0.9;
    window.setTimeout(function () { window.speechSynthesis.speak(utterance); }, 1200);
  }

  function strong(text) {
    var element = document.createElement('strong');
    element.textContent = text;
    return element;
  }

  function fill(element, call, withTime) {
    element.textContent = '';
    element.appendChild(document.createTextNode('Nummer '));
    var number = strong(call.number);
    var counter = strong(call.counter);
    if (!withTime) {
      number.className = 'display-number';
      counter.className = 'display-counter';
    }
    element.appendChild(number);
    element.appendChild(document.createTextNode(' – Schalter '));
    element.appendChild(counter);
    if (call.recall && !withTime) {
      var recall = document.createElement('span');
      recall.className = 'display-recall';
      recall.textContent = '(erneuter Aufruf)';
      element.appendChild(document.createTextNode(' '));
      element.appendChild(recall);
    }
    if (withTime && call.time) {
      var time = document.createElement('span');
      time.className = 'display-time';
      time.textContent = call.time + ' Uhr';
      element.appendChild(document.createTextNode(' '));
      element.appendChild(time);
    }
  }

  var shown = null;

  function show(call) {
    if (hasCall) {
      var item = document.createElement('li');
      var before = shown || {
        number: current.querySelector('.display-number').textContent,
        counter: current.querySelector('.display-counter').textContent,
        time: ''
      };
      fill(item, before, true);
      previous.insertBefore(item, previous.firstChild);
      while (previous.children.length > PREVIOUS) previous.removeChild(previous.lastChild);
    }
    var at = new Date(call.called_at);
    call.time = isNaN(at) ? '' : ('0' + at.getHours()).slice(-2) + ':' + ('0' + at.getMinutes()).slice(-2);
    fill(current, call, false);
    shown = call;
    hasCall = true;
    gong();
    speak(call);
  }

  var RETRY_FIRST = 1000;
  var RETRY_MAX = 30000;
  var retry = RETRY_FIRST;
  var pending = null;

  function interrupted() {
    connection.textContent = 'Verbindung unterbrochen – wird wiederhergestellt …';
  }

  /** The next try after the current pause; the pause after it is twice as long (at most RETRY_MAX). */
  function later() {
    interrupted();
    pending = window.setTimeout(probe, retry);
    retry = Math.min(retry * 2, RETRY_MAX);
  }

  /** Is the display still allowed (and the server back)? Then connect; else reload or wait. */
  function probe() {
    pending = null;
    if (!window.fetch) { connect(); return; }
    window.fetch(window.location.pathname, { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'text/html' } })
      .then(function (response) {
        if (response.ok) connect();
        else if (response.status === 401 || response.status === 403 || response.status === 404) window.location.reload();
        else later();
      }, later);
  }

  function connect() {
    var url = lastId === null ? base : base + '?after=' + encodeURIComponent(lastId);
    var source = new EventSource(url);
    source.addEventListener('open', function () {
      connection.textContent = '';
      retry = RETRY_FIRST;
    });
    source.addEventListener('call', function (event) {
      if (event.lastEventId) lastId = event.lastEventId;
      show(JSON.parse(event.data));
    });
    source.addEventListener('waiting', function (event) { waiting.textContent = event.data; });
    source.addEventListener('error', function () {
      interrupted();
      // CONNECTING: the browser tries again by itself. CLOSED: it gave up (an error answer).
      if (source.readyState === EventSource.CLOSED && pending === null) later();
    });
  }
  connect();

  if (soundButton) {
    soundButton.addEventListener('click', function () {
      ensureAudio();
      soundButton.textContent = 'Ton ist eingeschaltet';
      soundButton.disabled = true;
    });
  }
})();
