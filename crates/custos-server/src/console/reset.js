// The token is in the URL fragment, which the browser never sends to the server.
(function () {
  const params = new URLSearchParams(window.location.hash.slice(1));
  const token = params.get('token');
  history.replaceState(null, '', window.location.pathname);
  const form = document.getElementById('reset');
  const result = document.getElementById('result');
  if (!token) { result.textContent = 'This link is incomplete.'; form.hidden = true; return; }
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const password = document.getElementById('password').value;
    const r = await fetch('/v1/auth/password-reset/complete', {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token, password }),
    });
    if (r.status === 204) { result.textContent = 'Your password is set. You can sign in now.'; form.hidden = true; return; }
    const p = await r.json().catch(() => ({}));
    result.textContent = p.detail || 'The password could not be set.';
  });
})();
