// Passkeys (WebAuthn): add one on /passnokler, log in with one on /hvem-er-du. The server makes the options and
// checks the answer; this only carries them between the server and the browser's authenticator.
"use strict";
(function () {
  var csrf = document.querySelector('meta[name="csrf-token"]');
  var error = document.getElementById("passnokkel-feil");
  function fail(text) {
    error.textContent = text;
    error.hidden = false;
  }
  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf ? csrf.content : "", "Content-Type": "application/json" },
      body: body ? JSON.stringify(body) : "{}",
    }).then(function (r) {
      return r.json().then(function (json) {
        if (!r.ok) throw new Error(json.melding || "Det gikk ikke.");
        return json;
      });
    });
  }
  function start(button, optionsUrl, answerUrl, make) {
    if (!button) return;
    button.addEventListener("click", function () {
      error.hidden = true;
      if (!window.PublicKeyCredential) {
        fail("Nettleseren din støtter ikke passnøkler.");
        return;
      }
      button.disabled = true;
      post(optionsUrl)
        .then(make)
        .then(function (credential) { return post(answerUrl, credential.toJSON()); })
        .then(function (json) { window.location.assign(json.location); })
        .catch(function (e) {
          button.disabled = false;
          fail(e && e.name === "NotAllowedError" ? "Passnøkkelen ble ikke brukt." : (e.message || String(e)));
        });
    });
  }
  start(document.getElementById("passnokkel-registrer"), "/passnokler/valg", "/passnokler/ny", function (options) {
    return navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options) });
  });
  start(document.getElementById("passnokkel-logg-inn"), "/passnokkel/valg", "/passnokkel/logg-inn", function (options) {
    return navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options) });
  });
})();
