// Passkey sign-in on the login page, with @simplewebauthn/browser (served as /static/webauthn.js). The
// section stays hidden where WebAuthn is not available.
(() => {
  const box = document.getElementById('passkey');
  const button = document.getElementById('passkey-sign-in');
  const failed = document.getElementById('passkey-error');
  const { startAuthentication, browserSupportsWebAuthn } = SimpleWebAuthnBrowser;
  if (!browserSupportsWebAuthn()) return;
  box.hidden = false;
  const post = async (path, body) => {
    const response = await fetch(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': box.dataset.csrf },
      body: JSON.stringify(body),
      credentials: 'same-origin',
    });
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.error);
    return answer;
  };
  button.addEventListener('click', async () => {
    failed.hidden = true;
    button.disabled = true;
    try {
      const optionsJSON = await post(`${box.dataset.path}/options`, {});
      const response = await startAuthentication({ optionsJSON });
      const { redirect_to: redirectTo } = await post(box.dataset.path, response);
      window.location.assign(redirectTo);
    } catch {
      failed.hidden = false;
      button.disabled = false;
    }
  });
})();
