// Passkeys in the browser, with @simplewebauthn/browser (served as /static/webauthn.js). The #passkey box
// says what to do: data-mode="register" (end of enrolment, the portal) or "sign-in" (login page), data-path
// the endpoint (its /options first), data-csrf the token the server checks in a header, and data-reload
// whether the page reloads after a registration (the portal's list of passkeys).
(() => {
  const box = document.getElementById('passkey');
  const button = box.querySelector('[data-start]');
  const failed = box.querySelector('[data-failed]');
  const done = box.querySelector('[data-done]');
  const { startRegistration, startAuthentication, browserSupportsWebAuthn } = SimpleWebAuthnBrowser;
  const registering = box.dataset.mode === 'register';
  if (!browserSupportsWebAuthn()) {
    // Registration explains why nothing happens; sign-in simply stays hidden.
    if (registering) {
      button.disabled = true;
      failed.hidden = false;
    }
    return;
  }
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
      if (registering) {
        const response = await startRegistration({ optionsJSON });
        await post(box.dataset.path, { response, name: document.getElementById('passkey_name').value });
        done.hidden = false;
        if ('reload' in box.dataset) window.location.reload();
      } else {
        const response = await startAuthentication({ optionsJSON });
        window.location.assign((await post(box.dataset.path, response)).redirect_to);
      }
    } catch {
      failed.hidden = false;
      button.disabled = false;
    }
  });
})();
