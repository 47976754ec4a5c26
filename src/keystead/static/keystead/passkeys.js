// Passkey ceremonies for Keystead's pages. No build step, no dependencies.
//
// A form with data-passkey="register" or data-passkey="get" and data-options="<url>":
// on submit, the form is POSTed to the options URL (JSON answer), the browser is
// asked for a passkey, the answer goes into the form's "credential" field as JSON,
// and the form is submitted normally. The server answers with a redirect or a page.
(function () {
  "use strict";

  function toBuffer(base64url) {
    var base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
    var padded = base64 + "===".slice((base64.length + 3) % 4);
    var binary = atob(padded);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (d) {
      return Object.assign({}, d, { id: toBuffer(d.id) });
    });
  }

  function creationOptions(json) {
    return Object.assign({}, json, {
      challenge: toBuffer(json.challenge),
      user: Object.assign({}, json.user, { id: toBuffer(json.user.id) }),
      excludeCredentials: descriptors(json.excludeCredentials),
    });
  }

  function requestOptions(json) {
    return Object.assign({}, json, {
      challenge: toBuffer(json.challenge),
      allowCredentials: descriptors(json.allowCredentials),
    });
  }

  function credentialJSON(credential) {
    var r = credential.response;
    var response = { clientDataJSON: toBase64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toBase64url(r.attestationObject);
      response.transports = typeof r.getTransports === "function" ? r.getTransports() : [];
    } else {
      response.authenticatorData = toBase64url(r.authenticatorData);
      response.signature = toBase64url(r.signature);
      if (r.userHandle) response.userHandle = toBase64url(r.userHandle);
    }
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: response,
    };
  }

  function explain(error) {
    if (error && error.name === "NotAllowedError") {
      return "The passkey request was cancelled or timed out. Try again.";
    }
    if (error && error.name === "InvalidStateError") {
      return "This device already holds a passkey for your account. Use another device, " +
        "or remove the old passkey first.";
    }
    if (error && error.name === "SecurityError") {
      return "This address cannot use passkeys. Open Keystead at its configured address.";
    }
    return "The passkey request failed: " + (error && error.message ? error.message : error);
  }

  async function run(form, status) {
    if (!window.PublicKeyCredential || !navigator.credentials) {
      throw new Error("this browser cannot use passkeys");
    }
    var answer = await fetch(form.dataset.options, {
      method: "POST",
      body: new FormData(form),
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    var options = await answer.json();
    if (!answer.ok) {
      status.textContent = options.error || "The server refused the passkey request.";
      status.hidden = false;
      return;
    }
    var credential = form.dataset.passkey === "register"
      ? await navigator.credentials.create({ publicKey: creationOptions(options) })
      : await navigator.credentials.get({ publicKey: requestOptions(options) });
    form.querySelector("input[name=credential]").value = JSON.stringify(credentialJSON(credential));
    form.submit();
  }

  document.querySelectorAll("form[data-passkey]").forEach(function (form) {
    var status = form.querySelector("[data-passkey-status]");
    var busy = false;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (busy) return;
      busy = true;
      status.hidden = true;
      run(form, status).catch(function (error) {
        status.textContent = explain(error);
        status.hidden = false;
      }).finally(function () { busy = false; });
    });
  });
})();
