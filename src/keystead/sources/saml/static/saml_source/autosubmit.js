// Sends the signed AuthnRequest form to the identity provider at once (HTTP-POST binding);
// without JavaScript the person presses Continue.
document.querySelectorAll("form[data-saml-autosubmit]").forEach((form) => form.submit());
