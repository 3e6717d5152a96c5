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

  // refusals says what the voter can do when the registrar refuses a
  // login, or the token for its session (docs/API.md, "Login (OpenID
  // Connect)").
  const refusals = {
    login_failed: 'err_login_refused', not_eligible: 'err_not_eligible', session_invalid: 'err_session_expired',
    already_issued: 'err_login_already_issued', throttled: 'err_login_throttled',
    return_url_not_allowed: 'err_login_origin', login_disabled: 'err_login_off',
    overloaded: 'err_registrar_busy', unavailable: 'err_login_unavailable',
  };

  // message is what the voter reads when a login comes back refused with
  // code: a code this page does not know says the login did not succeed.
  function message(code, provider) {
    return t(Object.prototype.hasOwnProperty.call(refusals, code) ? refusals[code] : 'err_login_refused', { provider });
  }

  // refusal is message for an exception of a request to the registrar:
  // an unknown refusal names the registrar and its status. The caller
  // folds e's English message below it (Coco.explain).
  function refusal(e, provider) {
    if (!(e instanceof APIError)) return t('err_page');
    return Coco.refusal(e, refusals, 'err_registrar_login', { provider });
  }

  return { method, start, returned, message, refusal };
})();
