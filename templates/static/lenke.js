// The warning before an enrolment link runs out (WCAG 2.2.1 Timing Adjustable): the e-mailed one-time link is
// valid for a limited time, and the page knows how much is left (data-seconds-left). data-warn-seconds before the
// end, a dialog asks whether the person needs more time; its button asks the server (POST with the form's CSRF
// token, handling=forleng) to make the link valid the whole time again, and the countdown starts over with the
// seconds the server answers. The polite live region #lenke-status then says so. If the time runs out, the dialog
// says how to get a new link instead. Focus moves to the dialog when it opens and back where it was when it closes.
"use strict";
(function () {
  var box = document.getElementById("lenke-varsel");
  if (!box) { return; }
  var warn = Number(box.dataset.warnSeconds) * 1000;
  var button = document.getElementById("lenke-forleng");
  var expired = document.getElementById("lenke-utlopt");
  var status = document.getElementById("lenke-status");
  var extended = document.getElementById("lenke-forlenget");
  var csrf = document.querySelector('form input[name="csrf"]').value;
  var warnTimer = null;
  var endTimer = null;
  var before = null;

  function arm(left) {
    clearTimeout(warnTimer);
    clearTimeout(endTimer);
    warnTimer = setTimeout(open, Math.max(0, left - warn));
    endTimer = setTimeout(end, left);
  }

  function open() {
    before = document.activeElement;
    status.textContent = "";
    box.hidden = false;
    button.focus();
  }

  function end() {
    clearTimeout(warnTimer);
    clearTimeout(endTimer);
    box.hidden = false;
    button.hidden = true;
    expired.hidden = false;
    expired.setAttribute("role", "alert");
  }

  button.addEventListener("click", function () {
    var xhr = new XMLHttpRequest();
    xhr.open("POST", window.location.pathname);
    xhr.setRequestHeader("Content-Type", "application/x-www-form-urlencoded");
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("Accept-Language", document.documentElement.lang);
    xhr.addEventListener("load", function () {
      var seconds = NaN;
      try { seconds = Number(JSON.parse(xhr.responseText).sekunder); } catch (e) { seconds = NaN; }
      if (xhr.status === 200 && seconds > 0) {
        box.hidden = true;
        arm(seconds * 1000);
        status.textContent = extended.textContent;
        if (before && before.focus) { before.focus(); }
      } else {
        end();
      }
    });
    xhr.addEventListener("error", end);
    xhr.send("csrf=" + encodeURIComponent(csrf) + "&handling=forleng");
  });
  arm(Number(box.dataset.secondsLeft) * 1000);
}());
