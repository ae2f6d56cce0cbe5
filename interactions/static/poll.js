// Polls a JSON status endpoint while the page waits for something that happens elsewhere: a second device
// approving a scan-to-sign-in, or a guardian approving a platform. The box's data-poll names the endpoint;
// elements with data-status="<status>" are shown when that status arrives; an answer with redirect_to
// continues there; an expired QR code reloads the page for a fresh one.
(() => {
  const box = document.querySelector('[data-poll]');
  if (!box) return;
  const show = (status) => {
    for (const element of box.querySelectorAll('[data-status]')) element.hidden = element.dataset.status !== status;
  };
  let stopped = false;
  const poll = async () => {
    if (stopped) return;
    try {
      const response = await fetch(box.dataset.poll, { credentials: 'same-origin', headers: { accept: 'application/json' } });
      if (response.ok) {
        const answer = await response.json();
        if (answer.redirect_to) {
          stopped = true;
          window.location.assign(answer.redirect_to);
          return;
        }
        if (answer.status === 'expired') {
          stopped = true;
          window.location.reload();
          return;
        }
        show(answer.status);
        if (answer.status !== 'pending' && answer.status !== 'awaiting_guardian') return;
      } else if (response.status === 409) {
        return; // the interaction moved on in another tab
      }
    } catch {
      // a network blip: try again on the next tick
    }
    setTimeout(poll, 2000);
  };
  setTimeout(poll, 2000);
})();
