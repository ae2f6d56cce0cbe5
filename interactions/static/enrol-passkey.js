// Adds a passkey (the network credential) at the end of enrolment, with @simplewebauthn/browser
// (served as /static/webauthn.js). The server checks the CSRF token sent in a header.
(() => {
  const box = document.getElementById('passkey');
  const button = document.getElementById('add-passkey');
  const failed = document.getElementById('passkey-error');
  const done = document.getElementById('passkey-done');
  const { startRegistration, browserSupportsWebAuthn } = SimpleWebAuthnBrowser;
  if (!browserSupportsWebAuthn()) {
    button.disabled = true;
    failed.hidden = false;
    return;
  }
  const post = async (path, body) => {
    const response = await fetch(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': box.dataset.csrf },
      body: JSON.stringify(body),
      credentials: 'same-origin',
    });
    if (!response.ok) throw new Error(`${path} answered ${response.status}`);
    return response.json();
  };
  button.addEventListener('click', async () => {
    failed.hidden = true;
    button.disabled = true;
    try {
      const optionsJSON = await post('/enrol/passkey/options', {});
      const response = await startRegistration({ optionsJSON });
      await post('/enrol/passkey', { response, name: document.getElementById('passkey_name').value });
      done.hidden = false;
    } catch {
      failed.hidden = false;
      button.disabled = false;
    }
  });
})();
