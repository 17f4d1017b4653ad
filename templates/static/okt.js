// The warning before a web session runs out (WCAG 2.2.1 Timing Adjustable): the server ends a session after
// data-idle-seconds without a request. data-warn-seconds before that, a dialog asks whether to continue; its button
// makes a request (GET /okt), which renews the session, and the countdown starts again. If the time runs out, the
// dialog says so instead. Focus moves to the dialog when it opens and back where it was when it closes.
"use strict";
(function () {
  var box = document.getElementById("okt-varsel");
  if (!box) { return; }
  var idle = Number(box.dataset.idleSeconds) * 1000;
  var warn = Number(box.dataset.warnSeconds) * 1000;
  var button = document.getElementById("okt-forleng");
  var expired = document.getElementById("okt-utlopt");
  var warnTimer = null;
  var endTimer = null;
  var before = null;

  function arm() {
    clearTimeout(warnTimer);
    clearTimeout(endTimer);
    warnTimer = setTimeout(open, Math.max(0, idle - warn));
    endTimer = setTimeout(end, idle);
  }

  function open() {
    before = document.activeElement;
    box.hidden = false;
    button.focus();
  }

  function end() {
    box.hidden = false;
    button.hidden = true;
    expired.hidden = false;
    expired.setAttribute("role", "alert");
  }

  button.addEventListener("click", function () {
    var xhr = new XMLHttpRequest();
    xhr.open("GET", "/okt");
    xhr.addEventListener("load", function () {
      if (xhr.status === 204) {
        box.hidden = true;
        arm();
        if (before && before.focus) { before.focus(); }
      } else {
        end();
      }
    });
    xhr.addEventListener("error", end);
    xhr.send();
  });
  arm();
}());
