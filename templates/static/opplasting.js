// Upload with a progress bar: the file goes as a raw PUT (XMLHttpRequest, for upload progress events) with the
// session cookie and the CSRF token; the answer is the receipt, or an error with a message in the page's language
// (the texts come from the form's data-text-* attributes, rendered from the catalogs). Progress is announced to
// screen readers in the polite live region #status at every 10 percent, not at every event.
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
  var error = document.getElementById("feil");
  var errorText = document.getElementById("feil-tekst");
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var maxBytes = Number(form.dataset.maxBytes);
  var text = form.dataset;
  var announced = -1;

  function fail(message) {
    errorText.textContent = message;
    error.hidden = false;
    status.textContent = "";
    button.disabled = false;
    input.setAttribute("aria-invalid", "true");
    error.focus();
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    error.hidden = true;
    input.removeAttribute("aria-invalid");
    var file = input.files[0];
    if (!file) { fail(text.textNoFile); return; }
    if (file.size === 0) { fail(text.textEmpty); return; }
    if (file.size > maxBytes) { fail(text.textTooLarge); return; }
    button.disabled = true;
    progress.hidden = false;
    announced = -1;
    status.textContent = text.textSending;
    var xhr = new XMLHttpRequest();
    xhr.open("PUT", "/api/v1/uploads/" + encodeURIComponent(file.name));
    xhr.setRequestHeader("X-CSRF-Token", csrf);
    xhr.setRequestHeader("Content-Type", "application/x-tar");
    xhr.setRequestHeader("Accept-Language", document.documentElement.lang);
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) {
        var p = Math.floor(100 * e.loaded / e.total);
        bar.value = p;
        percent.textContent = p + " %";
        if (p === 100) {
          status.textContent = text.textChecking;
        } else if (Math.floor(p / 10) > announced) {
          announced = Math.floor(p / 10);
          status.textContent = text.textSentPercent.replace("{p}", String(p));
        }
      }
    });
    xhr.addEventListener("load", function () {
      var body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
      if ((xhr.status === 201 || xhr.status === 200) && body && body.reference) {
        window.location.assign("/kvittering/" + encodeURIComponent(body.reference));
      } else if (xhr.status === 401) {
        fail(text.textSession);
      } else {
        fail(body && body.melding ? body.melding : text.textFailed.replace("{s}", String(xhr.status)));
      }
    });
    xhr.addEventListener("error", function () {
      fail(text.textNetwork);
    });
    xhr.send(file);
  });
}());
