// common.js: what every page uses. Plain script, no build step.
'use strict';

const Coco = (() => {
  const msgs = JSON.parse(document.getElementById('i18n').textContent);
  const lang = document.documentElement.lang;

  // t returns the message of key in the page's language with {name}
  // replaced by vars.name.
  function t(key, vars) {
    let s = msgs[key] || key;
    for (const [k, v] of Object.entries(vars || {})) s = s.split('{' + k + '}').join(String(v));
    return s;
  }

  // tn is t for a count n: the message key + '_zero' for none when it
  // exists ("No vote is waiting", not "0 votes are waiting"), else key +
  // '_one' when the language puts n in the singular (English 1; French 0
  // and 1) and it exists.
  const plural = new Intl.PluralRules(lang);
  function tn(key, n, vars) {
    if (n === 0 && msgs[key + '_zero']) return t(key + '_zero', vars);
    const one = key + '_one';
    return t(plural.select(n) === 'one' && msgs[one] ? one : key, vars);
  }

  // tv is t for a line saying that n of the chain's `of` validators
  // signed: key + '_single' on a chain of one validator ("signed by the
  // chain's validator", not "1 of 1"), else tn on n.
  function tv(key, n, of, vars) {
    return of === 1 && msgs[key + '_single'] ? t(key + '_single', vars) : tn(key, n, vars);
  }

  // has reports whether the page's language has a message for key.
  const has = (key) => Object.prototype.hasOwnProperty.call(msgs, key);

  const $ = (id) => document.getElementById(id);

  // APIError is a refusal of the node or the registrar: its HTTP status,
  // its code ("ballot_closed", ...) and its message; status 0 when the
  // server could not be reached.
  class APIError extends Error {
    constructor(status, code, message, retryAfter, host) {
      super(message);
      this.status = status;
      this.code = code;
      this.retryAfter = retryAfter;
      this.host = host;
    }
  }

  async function request(url, opts) {
    const host = new URL(url, location.href).host;
    let resp;
    try {
      resp = await fetch(url, Object.assign({ credentials: 'omit', referrerPolicy: 'no-referrer', cache: 'no-store' }, opts));
    } catch (e) {
      throw new APIError(0, 'network', String(e), 0, host);
    }
    const text = await resp.text();
    if (resp.ok) return text;
    let detail = {};
    try { detail = JSON.parse(text).error || {}; } catch (e) { /* not JSON */ }
    throw new APIError(resp.status, detail.code || 'http_' + resp.status, detail.message || text.slice(0, 200),
      Number(resp.headers.get('Retry-After')) || 0, host);
  }

  // unreachable reports whether e says that the server could not answer
  // (no connection, or a 5xx): trying the same again later may work.
  function unreachable(e) {
    return e instanceof APIError && (e.status === 0 || e.status >= 500);
  }

  // unreachableMessage is what a voter reads when the server at e.host
  // could not answer.
  function unreachableMessage(e) {
    return e.status === 0 ? t('err_network', { host: e.host }) : t('err_server', { host: e.host, status: e.status });
  }

  // parse reads an answer of url that should be the API's JSON. One that
  // is not (a web page at a wrongly typed address, a captive portal) is
  // an APIError with code http_200, as a refusal of a server that is not
  // a node: never a parser's error without a host.
  function parse(text, url) {
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new APIError(200, 'http_200', 'the answer is not JSON: ' + text.slice(0, 200), 0, new URL(url, location.href).host);
    }
  }

  async function getJSON(url) { return parse(await request(url), url); }

  async function postJSON(url, body) {
    const text = await request(url, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return parse(text, url);
  }

  // loadWasm starts the WebAssembly voter client once; it resolves when
  // the module has registered window.cocorico.
  let wasm = null;
  function loadWasm() {
    if (!wasm) {
      wasm = new Promise((resolve, reject) => {
        window.cocoricoReady = resolve;
        if (typeof Go === 'undefined' || typeof WebAssembly === 'undefined') {
          reject(new Error('no WebAssembly'));
          return;
        }
        const go = new Go();
        // The module's download is a request like the others: when it
        // fails, the page says the node is unreachable and may try again.
        const url = document.body.dataset.wasm;
        const host = new URL(url, location.href).host;
        fetch(url)
          .catch((e) => { throw new APIError(0, 'network', String(e), 0, host); })
          .then((resp) => {
            if (!resp.ok) throw new APIError(resp.status, 'http_' + resp.status, resp.statusText, 0, host);
            return WebAssembly.instantiateStreaming(resp, go.importObject);
          })
          .then((r) => { go.run(r.instance); })
          .catch(reject);
      });
      wasm.catch(() => { wasm = null; }); // a later call tries again
    }
    return wasm;
  }

  // call runs a function of the module; its errors become exceptions.
  function call(name, ...args) {
    const out = JSON.parse(window.cocorico[name](...args));
    if (out && out.error) throw new Error(out.error);
    return out;
  }

  // when is a date and time in the page's language, in the voter's own
  // time zone, which it names ("… at 18:00 UTC+1").
  function when(iso) {
    return new Intl.DateTimeFormat(lang, { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric',
      hour: 'numeric', minute: '2-digit', timeZoneName: 'short' }).format(new Date(iso));
  }

  // at calls fn once this browser's clock has passed iso, or in 5 s when
  // it has already (the node's clock decides whether a ballot is open:
  // a page that still finds it upcoming asks again). It returns the
  // timer for clearTimeout.
  function at(iso, fn) {
    const ms = Date.parse(iso) - Date.now() + 1000;
    return setTimeout(fn, Math.min(Math.max(ms, 5000), 2147483647)); // setTimeout's longest delay
  }

  // showError shows msg in the page's alert area (empty hides it). With
  // retry, the area also holds a "Try again" button (label: the message
  // key label, default 'retry') that hides it and calls retry.
  function showError(msg, retry, label) {
    const e = $('error');
    if (!e) return;
    e.className = 'error';
    e.textContent = msg || '';
    e.hidden = !msg;
    if (!msg || !retry) return;
    const p = document.createElement('p');
    p.textContent = msg;
    const b = document.createElement('button');
    Object.assign(b, { type: 'button', id: 'retry', className: 'secondary retry' });
    b.textContent = t(label || 'retry');
    b.addEventListener('click', () => {
      showError('');
      retry();
    });
    e.replaceChildren(p, b);
  }

  // showWait shows msg in the same area as a note, not an error: the
  // page waits as the node asked (a re-vote too soon, a busy node) and
  // goes on by itself. showError('') hides it.
  function showWait(msg) {
    const e = $('error');
    if (!e) return;
    e.className = 'note wait';
    e.textContent = msg;
    e.hidden = false;
  }

  // pct writes a percentage (0 to 100) as the page's language does:
  // "42.5%" in English, "42,5 %" in French.
  function pct(x) {
    return new Intl.NumberFormat(lang, { style: 'percent', maximumFractionDigits: 1 }).format(x / 100);
  }

  // technical is a server's or the module's English words, folded under
  // "technical detail": for whoever helps the voter (the organizers, a
  // node's operator), never the sentence she reads.
  function technical(text) {
    const d = document.createElement('details');
    d.className = 'technical';
    const s = document.createElement('summary');
    s.textContent = t('tech_detail');
    const code = document.createElement('code');
    code.lang = 'en';
    code.textContent = text;
    d.append(s, code);
    return d;
  }

  // wait is how long a Retry-After of that many seconds asks to wait, in
  // words of the page's language ("30 seconds", "2 minutes"); "a few
  // minutes" when the answer did not say (or the browser could not read
  // it: a cross-origin answer must expose the header).
  function wait(seconds) {
    if (!seconds) return t('wait_unknown');
    const [n, unit] = seconds >= 60 ? [Math.ceil(seconds / 60), 'minute'] : [Math.max(seconds, 1), 'second'];
    // "2 minutes" never breaks across lines.
    return new Intl.NumberFormat(lang, { style: 'unit', unit, unitDisplay: 'long' }).format(n).replace(/ /g, '\u00a0');
  }

  // refusal says in the page's language why the server at e.host (an
  // APIError) did not do what the page asked, and what to do: the message
  // key that keys gives for e.code (the API's codes, docs/API.md §Errors;
  // http_NNN for an answer that was not the API's JSON, from a proxy or a
  // server that is not a node), else unreachableMessage for a server that
  // could not answer, else fallback. The message may use {host},
  // {status}, {wait} (the answer's Retry-After) and vars. The server's
  // English message is for explain, never for the sentence.
  function refusal(e, keys, fallback, vars) {
    const key = Object.prototype.hasOwnProperty.call(keys, e.code) ? keys[e.code] : '';
    if (!key && unreachable(e)) return unreachableMessage(e);
    return t(key || fallback, Object.assign({ host: e.host, status: e.status, wait: wait(e.retryAfter) }, vars));
  }

  // explain folds e's English message (a refusal's, the module's) under
  // box's sentence, when it has one worth reading: a server that could
  // not answer has none.
  function explain(box, e) {
    if (e && e.message && !(e instanceof APIError && unreachable(e))) box.append(technical(e.message));
  }

  // showRefusal is showError for msg, the sentence that says e in the
  // page's language, with e's English message folded below it.
  function showRefusal(msg, e, retry, label) {
    showError(msg, retry, label);
    explain($('error'), e);
  }

  // loadError is what a voter reads when a page cannot load its ballot,
  // in the page's language: the node's (English) message never reaches
  // the page; an unexpected refusal names the node and its status.
  function loadError(e) {
    if (!(e instanceof APIError)) return String(e.message || e);
    if (unreachable(e)) return unreachableMessage(e);
    if (e.status === 404 || e.code === 'not_found' || e.code === 'unknown_ballot') return t('err_unknown_ballot');
    return t('err_refused', { host: e.host, status: e.status });
  }

  // deadEnd replaces the page with the reason it cannot go on (e, an
  // exception of loading its ballot) and a way out, the node's list of
  // ballots: laid out as the server's not-found pages (notfound.html,
  // nopage.html), a heading, what to do, a button. A ballot this node does
  // not know reads as the server's own page for it.
  function deadEnd(e) {
    const unknown = e instanceof APIError && !unreachable(e) &&
      (e.status === 404 || e.code === 'not_found' || e.code === 'unknown_ballot');
    const h = document.createElement('h1');
    h.id = 'question';
    h.textContent = unknown ? t('err_unknown_ballot_title') : loadError(e);
    const parts = [h];
    if (unknown) {
      const help = document.createElement('p');
      help.textContent = t('err_unknown_ballot_help');
      parts.push(help);
    }
    const a = document.createElement('a');
    a.className = 'button';
    a.href = '/';
    a.textContent = t('ballots_title');
    const p = document.createElement('p');
    p.append(a);
    parts.push(p);
    $('main').replaceChildren(...parts);
    document.body.dataset.deadEnd = 'true';
  }

  function download(name, text) {
    const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  // ended says whether a ballot of this status (GET /v1/ballots/{id})
  // takes no more votes: closed, or closed and counted.
  const ended = (status) => status === 'closed' || status === 'tallied';

  function randomBase64(n) {
    const b = new Uint8Array(n);
    crypto.getRandomValues(b);
    return btoa(String.fromCharCode(...b));
  }

  // showAlarms is what the pages say of the alarms this node keeps (a
  // GET /v1/alarms answer, with GET /v1/status's st): an alarm this node
  // raised itself (it refused a block the validators signed) is the
  // warning not to trust the figures, with its reason and how many nodes
  // alarmed on that block; alarms only from other nodes are claims anyone
  // can make with a free key (docs/PROTOCOL.md §20), about a block this
  // node holds final: the page says whether this node verified that block
  // itself, and does not repeat the claim's own words (a stranger's text).
  // showAlarms writes it in box, which is styled as a warning for this
  // node's own alarm and as a notice (class alarm-claim) for others'.
  function showAlarms(box, alarms, st) {
    const hexToB64 = (hex) => btoa(String.fromCharCode(...hex.match(/../g).map((h) => parseInt(h, 16))));
    const self = st.node_id ? hexToB64(st.node_id) : '';
    const own = alarms.filter((a) => a.node === self);
    if (own.length) {
      const last = own[own.length - 1];
      const n = alarms.filter((a) => a.block_hash === last.block_hash).length;
      box.textContent = tn('alarm_text', n, { n, h: last.height, what: last.failed });
    } else {
      const last = alarms[alarms.length - 1];
      const n = alarms.filter((a) => a.block_hash === last.block_hash).length;
      box.textContent = tn(last.height >= (st.verified_from || 1) ? 'alarm_claim' : 'alarm_claim_unchecked', n, { n, h: last.height });
    }
    box.classList.toggle('alarm-claim', !own.length);
  }

  return { t, tn, tv, has, $, lang, APIError, request, unreachable, unreachableMessage, getJSON, postJSON, loadWasm, call, when, at,
    showError, showWait, pct, technical, refusal, explain, showRefusal, loadError, deadEnd, download, sleep, randomBase64, ended, showAlarms };
})();
