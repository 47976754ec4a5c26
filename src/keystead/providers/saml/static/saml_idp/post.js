// Sends the SAML form on to the application at once; the button stays for browsers
// without scripts.
document.getElementById("saml-post").submit();
