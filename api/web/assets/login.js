// login.js: logging in at a registrar's OpenID Connect provider
// (docs/API.md, "Login (OpenID Connect)"). The page asks the registrar
// (never the node) whether it logs voters in; the login leaves this page
// for the provider and comes back to it with a single-use session in the
// fragment. Only which ballot and registrar the login was for survives
// the trip (sessionStorage, this tab only); the one-time key and the
// blinding are made after the return, so the blinding secret never
// leaves the WebAssembly module.
'use strict';

const Login = (() => {
  const { t, APIError } = Coco;
  const KEY = 'cocorico-login';

  const base = (url) => url.replace(/\/+$/, '');

  // method asks the registrar how voters prove they may vote: {login:
  // {provider}} for a login, {voters: n} for a roll. Unreachable: null.
  async function method(regURL) {
    try {
      return await Coco.getJSON(base(regURL) + '/v1/status');
    } catch (e) {
      return null;
    }
  }

  // start asks the registrar for the provider's address, keeps what the
  // return needs and leaves for the provider (a top-level navigation:
  // the page's CSP restricts fetches and forms, not this).
  async function start(regURL, pending) {
    const ret = location.origin + location.pathname + location.search;
    const ans = await Coco.postJSON(base(regURL) + '/v1/login/start', { ballot_id: pending.ballot, return_url: ret });
    const to = new URL(ans.authorization_url);
    if (to.protocol !== 'https:' && to.protocol !== 'http:') throw new Error('authorization URL ' + to.protocol);
    sessionStorage.setItem(KEY, JSON.stringify(pending));
    location.assign(to.href);
  }

  // returned reads a login's return from the fragment and removes it from
  // the address bar (and the history) at once: null if this load is not
  // a return, else {pending, session} or {pending, error, message}.
  // pending is what start kept, null if this tab did not start it.
  function returned() {
    const p = new URLSearchParams(location.hash.slice(1));
    if (!p.has('session') && !p.has('error')) return null;
    history.replaceState(null, '', location.pathname + location.search);
    let pending = null;
    try { pending = JSON.parse(sessionStorage.getItem(KEY)); } catch (e) { /* none */ }
    sessionStorage.removeItem(KEY);
    if (p.has('error')) return { pending, error: p.get('error'), message: p.get('error_description') || '' };
    return { pending, session: p.get('session'), ballot: p.get('ballot_id') };
  }

  // message turns a refusal of the login or of the token for its session
  // into what the voter can do.
  function message(code, detail, provider) {
    switch (code) {
      case 'login_failed': return t('err_login_refused', { provider });
      case 'not_eligible': return t('err_not_eligible');
      case 'session_invalid': return t('err_session_expired');
      case 'already_issued': return t('err_login_already_issued');
      case 'throttled': return t('err_login_throttled');
      case 'return_url_not_allowed': return t('err_login_origin');
      case 'login_disabled': return t('err_login_off');
    }
    return t('err_registrar_login', { message: detail || code });
  }

  // refusal is message for an exception of a request to the registrar.
  function refusal(e, provider) {
    if (!(e instanceof APIError)) return String(e.message || e);
    if (e.status === 0) return t('err_network', { host: e.host });
    if (e.status >= 500 && e.status !== 503) return t('err_registrar_login', { message: e.message });
    if (e.status === 503) return t('err_busy_gave_up');
    return message(e.code, e.message, provider);
  }

  return { method, start, returned, message, refusal };
})();
