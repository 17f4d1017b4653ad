// Upload with a progress bar: the file goes as a raw PUT (XMLHttpRequest, for upload progress events) with the
// session cookie and the CSRF token; the answer is the receipt, or an error with a Bokmål message.
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
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var maxBytes = Number(form.dataset.maxBytes);

  function fail(text) {
    error.textContent = text;
    error.hidden = false;
    status.textContent = "";
    button.disabled = false;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    error.hidden = true;
    var file = input.files[0];
    if (!file) { fail("Velg en fil først."); return; }
    if (file.size === 0) { fail("Filen er tom."); return; }
    if (file.size > maxBytes) { fail("Filen er større enn tjenesten tar imot."); return; }
    button.disabled = true;
    progress.hidden = false;
    status.textContent = "Sender …";
    var xhr = new XMLHttpRequest();
    xhr.open("PUT", "/api/v1/uploads/" + encodeURIComponent(file.name));
    xhr.setRequestHeader("X-CSRF-Token", csrf);
    xhr.setRequestHeader("Content-Type", "application/x-tar");
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) {
        var p = Math.floor(100 * e.loaded / e.total);
        bar.value = p;
        percent.textContent = p + " %";
        if (p === 100) { status.textContent = "Kontrollerer filen …"; }
      }
    });
    xhr.addEventListener("load", function () {
      var body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
      if ((xhr.status === 201 || xhr.status === 200) && body && body.reference) {
        window.location.assign("/kvittering/" + encodeURIComponent(body.reference));
      } else if (xhr.status === 401) {
        fail("Økten din er utløpt. Logg inn på nytt.");
      } else {
        fail(body && body.melding ? body.melding : "Innsendingen mislyktes (" + xhr.status + ").");
      }
    });
    xhr.addEventListener("error", function () {
      fail("Forbindelsen ble brutt. Ingenting er lagret; send filen på nytt.");
    });
    xhr.send(file);
  });
}());
