// The booking and wish forms' proof of work (services/src/http/proof_of_work.rs,
// the ALTCHA scheme): fetches a challenge when the page opens, finds the
// number whose SHA-256 of salt + number is the challenge, and sends it with
// the form in the field `altcha`. Without this script the server holds the
// form a few seconds instead, so the forms work without JavaScript too.
(function () {
  "use strict";

  var FIELD = "altcha";
  var CHALLENGE_URL = "/api/v1/challenge";
  // Numbers tried between two looks at the page (keeps it responsive).
  var CHUNK = 4000;

  var K = new Int32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
  ]);
  var W = new Int32Array(64);

  var H = new Int32Array(8);
  var words = new Int32Array(64);

  // SHA-256 of an ASCII string (salts and numbers are ASCII) into H. Plain
  // JavaScript: crypto.subtle exists only on https pages and is slower for
  // many small hashes.
  function sha256(text) {
    var length = text.length;
    var blocks = (length + 9 + 63) >> 6;
    if (words.length < blocks * 16) { words = new Int32Array(blocks * 16); }
    words.fill(0, 0, blocks * 16);
    var i;
    for (i = 0; i < length; i++) {
      words[i >> 2] |= text.charCodeAt(i) << (24 - (i & 3) * 8);
    }
    words[length >> 2] |= 0x80 << (24 - (length & 3) * 8);
    words[blocks * 16 - 1] = length * 8;
    var h0 = 0x6a09e667, h1 = 0xbb67ae85 | 0, h2 = 0x3c6ef372, h3 = 0xa54ff53a | 0;
    var h4 = 0x510e527f, h5 = 0x9b05688c | 0, h6 = 0x1f83d9ab, h7 = 0x5be0cd19;
    for (var offset = 0; offset < blocks * 16; offset += 16) {
      var t;
      for (t = 0; t < 64; t++) {
        if (t < 16) {
          W[t] = words[offset + t];
        } else {
          var x = W[t - 15], y = W[t - 2];
          var s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
          var s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
          W[t] = (W[t - 16] + s0 + W[t - 7] + s1) | 0;
        }
      }
      var a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7;
      for (t = 0; t < 64; t++) {
        var sum1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        var choice = (e & f) ^ (~e & g);
        var t1 = (h + sum1 + choice + K[t] + W[t]) | 0;
        var sum0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        var majority = (a & b) ^ (a & c) ^ (b & c);
        var t2 = (sum0 + majority) | 0;
        h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      h0 = (h0 + a) | 0; h1 = (h1 + b) | 0; h2 = (h2 + c) | 0; h3 = (h3 + d) | 0;
      h4 = (h4 + e) | 0; h5 = (h5 + f) | 0; h6 = (h6 + g) | 0; h7 = (h7 + h) | 0;
    }
    H[0] = h0; H[1] = h1; H[2] = h2; H[3] = h3; H[4] = h4; H[5] = h5; H[6] = h6; H[7] = h7;
  }

  // A hex digest as the eight words `sha256` leaves in H.
  function digestWords(hex) {
    var target = new Int32Array(8);
    for (var i = 0; i < 8; i++) { target[i] = parseInt(hex.substr(i * 8, 8), 16) | 0; }
    return target;
  }

  function matches(target) {
    for (var i = 0; i < 8; i++) { if (H[i] !== target[i]) { return false; } }
    return true;
  }

  // Resolves with the form field's value, or null when there is no challenge
  // to solve (the check is off, or the server cannot be reached: the server
  // then holds the form instead).
  function solveFresh() {
    return fetch(CHALLENGE_URL, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (challenge) {
        if (!challenge) { return null; }
        return new Promise(function (resolve) {
          var number = 0;
          var target = digestWords(String(challenge.challenge));
          function step() {
            var last = Math.min(number + CHUNK, challenge.maxnumber);
            for (; number <= last; number++) {
              sha256(challenge.salt + number);
              if (matches(target)) {
                var solution = JSON.stringify({
                  algorithm: challenge.algorithm, challenge: challenge.challenge,
                  number: number, salt: challenge.salt, signature: challenge.signature
                });
                var expires = Number((/[?&]expires=(\d+)/.exec(challenge.salt) || [])[1] || 0);
                resolve({ payload: btoa(solution), expires: expires });
                return;
              }
            }
            if (number > challenge.maxnumber) { resolve(null); return; }
            setTimeout(step, 0);
          }
          step();
        });
      })
      .catch(function () { return null; });
  }

  var forms = document.querySelectorAll('form[method="post"][action="/termin/buchen"], form[method="post"][action="/suche"]');
  if (!forms.length || !window.fetch || !window.Promise) { return; }

  // Solved while the citizen types; each solution is spent once.
  var ahead = solveFresh();

  function solution() {
    var taken = ahead;
    ahead = null;
    return (taken || solveFresh()).then(function (solved) {
      // A solution about to expire is not worth sending.
      if (solved && solved.expires * 1000 - Date.now() < 30000) { return solveFresh(); }
      return solved;
    });
  }

  Array.prototype.forEach.call(forms, function (form) {
    var sending = false;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (sending) { return; }
      sending = true;
      var status = form.querySelector("[data-proof-of-work-status]");
      if (!status) {
        status = document.createElement("p");
        status.setAttribute("role", "status");
        status.setAttribute("data-proof-of-work-status", "");
        status.className = "hint";
        form.appendChild(status);
      }
      status.textContent = "Einen Moment bitte, Ihre Anfrage wird gesendet …";
      solution().then(function (solved) {
        var field = form.querySelector('input[name="' + FIELD + '"]');
        if (!field) {
          field = document.createElement("input");
          field.type = "hidden";
          field.name = FIELD;
          form.appendChild(field);
        }
        field.value = solved ? solved.payload : "";
        form.submit();
      });
    });
  });
})();
