// Upload with a progress bar: the file goes as a raw PUT (XMLHttpRequest, for upload progress events) with the
// session cookie and the CSRF token; the answer is the receipt, or an error with a message in the page's language.
// Every text comes from the page (the form's data-melding-* attributes, or the server's "melding"), so that the
// page's language is the only one a person sees; the form has novalidate, so the browser's own messages never show.
// Progress is announced to screen readers in the polite live region #status at every 10 percent, not at every event;
// the upload asks for the server's "melding" in the page's language (Accept-Language).
"use strict";
(function () {
  var form = document.getElementById("opplasting");
  if (!form) { return; }
  var input = document.getElementById("fil");
  var button = document.getElementById("send");
  var progress = document.getElementById("fremdrift");
  var bar = document.getElementById("fremdriftslinje");
  var percent = document.getElementById("prosent");
  var status = document.getElementById("status");
  var summary = document.getElementById("feilsammendrag");
  var error = document.getElementById("feil");
  var fieldError = document.getElementById("fil-feil");
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var maxBytes = Number(form.dataset.maxBytes);
  var text = form.dataset;
  var announced = -1;

  function showProgress(p) {
    bar.value = p;
    percent.textContent = p + " %";
  }

  // A refusal: the bar goes back to zero and out of sight (a full bar beside a refusal reads as success), the
  // message goes into the error summary and beside the field, and focus moves to the summary so that it is read.
  function fail(message) {
    showProgress(0);
    progress.hidden = true;
    status.textContent = "";
    error.textContent = message;
    fieldError.textContent = message;
    fieldError.hidden = false;
    input.setAttribute("aria-invalid", "true");
    summary.hidden = false;
    button.disabled = false;
    summary.focus();
  }

  function clearError() {
    summary.hidden = true;
    fieldError.hidden = true;
    input.removeAttribute("aria-invalid");
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    clearError();
    var file = input.files[0];
    if (!file) { fail(text.meldingIngenFil); return; }
    if (file.size === 0) { fail(text.meldingTom); return; }
    if (file.size > maxBytes) { fail(text.meldingForStor); return; }
    button.disabled = true;
    showProgress(0);
    progress.hidden = false;
    announced = -1;
    status.textContent = text.meldingSender;
    var xhr = new XMLHttpRequest();
    xhr.open("PUT", "/api/v1/uploads/" + encodeURIComponent(file.name));
    xhr.setRequestHeader("X-CSRF-Token", csrf);
    xhr.setRequestHeader("Accept-Language", document.documentElement.lang);
    xhr.setRequestHeader("Content-Type", "application/x-tar");
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) {
        var p = Math.floor(100 * e.loaded / e.total);
        showProgress(p);
        if (p === 100) {
          status.textContent = text.meldingKontrollerer;
        } else if (Math.floor(p / 10) > announced) {
          announced = Math.floor(p / 10);
          status.textContent = text.meldingSendtProsent.replace("{p}", String(p));
        }
      }
    });
    xhr.addEventListener("load", function () {
      var body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
      if ((xhr.status === 201 || xhr.status === 200) && body && body.reference) {
        // A file sent before (200, "duplicate"): its receipt page says so, and whether it still counts.
        var again = body.duplicate ? "?igjen=1" : "";
        window.location.assign("/kvittering/" + encodeURIComponent(body.reference) + again);
      } else if (xhr.status === 401) {
        fail(text.meldingUtlopt);
      } else {
        fail(body && body.melding ? body.melding : text.meldingMislyktes.replace("{status}", String(xhr.status)));
      }
    });
    xhr.addEventListener("error", function () {
      fail(text.meldingBrutt);
    });
    xhr.send(file);
  });
}());
