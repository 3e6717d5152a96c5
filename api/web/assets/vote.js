// vote.js: the voting flow. Authenticate first (the registrar's blind
// signature for a voter id and code, or for a login at its provider
// (login.js), or this browser's wallet to vote again), then three screens:
// choose → confirm (with the progress sent → in a block → final) → "your
// vote is counted", shown only once the receipt is final and checked here.
'use strict';

(() => {
  const { t, $, call, APIError } = Coco;
  const ballotID = document.body.dataset.ballot;
  const st = { genesisText: '', chain: null, view: null, defText: '', voter: '', entry: null, choice: -1, receipt: '', methods: [] };
  const screens = ['s-login', 's-choose', 's-confirm', 's-counted', 's-upcoming', 's-closed'];
  let reopen = 0; // the timer of an upcoming ballot's opening

  function show(id, focus) {
    for (const s of screens) $(s).hidden = s !== id;
    Coco.showError('');
    if (focus) $(focus).focus();
  }

  // fail shows msg; with retry, a "Try again" button that calls it. e,
  // when msg says a refusal or a failure, is folded below it in its own
  // (English) words.
  function fail(msg, retry, e) {
    Coco.showRefusal(msg, e, retry);
    $('error').focus();
  }

  // castRefusals says what the voter can do when the node does not take
  // her vote (docs/API.md §Errors). duplicate and seq_replay of a cast
  // sent again mean the node has it (send).
  const castRefusals = {
    ballot_closed: 'err_closed', ballot_not_open: 'err_not_open', too_many_casts: 'err_too_many',
    unknown_ballot: 'err_unknown_ballot', not_found: 'err_unknown_ballot',
    overloaded: 'err_busy_gave_up', unavailable: 'err_busy_gave_up', revote_too_soon: 'err_busy_gave_up',
    throttled: 'err_cast_throttled',
    revote_not_allowed: 'err_revote_not_allowed', seq_replay: 'err_seq_replay',
    token_invalid: 'err_token_invalid', unknown_registrar: 'err_token_invalid', sealed_no_key: 'err_sealed_no_key',
    bad_request: 'err_cast_unreadable', malformed: 'err_cast_unreadable', cast_invalid: 'err_cast_unreadable',
    choice_out_of_range: 'err_cast_unreadable', voter_signature_invalid: 'err_cast_unreadable',
    sealed_invalid: 'err_cast_unreadable', too_large: 'err_cast_unreadable', body_too_large: 'err_cast_unreadable',
  };

  // laterCodes are the refusals whose sentence asks the voter to try
  // again later (a busy or throttling server): the same request may go
  // again, and a button does it.
  const laterCodes = new Set(['overloaded', 'unavailable', 'revote_too_soon', 'throttled']);

  // failRefusal shows why a server refused, in the words keys gives for
  // its code (fallback for a code they lack), or why this page could not
  // go on (the module's error: err_page). When the server could not
  // answer, refused for a reason this page does not know, or asks to be
  // asked again later, a button calls retry: the very same request again.
  function failRefusal(e, keys, fallback, retry) {
    if (!(e instanceof APIError)) {
      fail(t('err_page'), null, e);
      return;
    }
    const known = Object.prototype.hasOwnProperty.call(keys, e.code);
    fail(Coco.refusal(e, keys, fallback), Coco.unreachable(e) || !known || laterCodes.has(e.code) ? retry : null, e);
  }

  // failNode is failRefusal for the node's answer to the vote.
  const failNode = (e, retry) => failRefusal(e, castRefusals, 'err_cast_refused', retry);

  // tokenRefusals says what the voter can do when the registrar does not
  // give her a voting right for her voter id and code (docs/API.md, "The
  // registrar's API"): its own sentences, as a busy registrar is not a
  // busy node.
  const tokenRefusals = {
    already_issued: 'err_already_issued',
    not_authorized: 'err_registrar_refused', http_401: 'err_registrar_refused', http_403: 'err_registrar_refused',
    throttled: 'err_registrar_throttled', overloaded: 'err_registrar_busy', http_503: 'err_registrar_busy',
    ballot_closed: 'err_closed', ballot_not_open: 'err_not_open',
    unknown_ballot: 'err_registrar_ballot', not_registrar: 'err_registrar_ballot',
    malformed: 'err_registrar_unreadable', bad_request: 'err_registrar_unreadable',
  };

  // closed shows that voting is over and where the results are, in place
  // of the flow (the ballot's status says so, or the node refused a cast).
  function closed() {
    const v = st.view;
    $('closed-text').textContent = t(v && v.status === 'closed' && v.tally === 'sealed' ? 'vote_closed_sealed' : 'vote_closed_text',
      { date: v ? Coco.when(v.closes_at) : '' });
    $('wallet').hidden = true;
    show('s-closed', 'closed-h');
    document.body.dataset.closed = 'true';
  }

  // upcoming says when voting opens, in place of a login that would end
  // in a refusal, and looks again at that time: a page left open lets
  // the voter in once the node finds the ballot open.
  function upcoming() {
    $('upcoming-text').textContent = t('vote_upcoming_text', { date: Coco.when(st.view.opens_at) });
    $('wallet').hidden = true;
    show('s-upcoming', 'upcoming-h');
    document.body.dataset.upcoming = 'true';
    clearTimeout(reopen);
    reopen = Coco.at(st.view.opens_at, () => load(null));
  }

  async function start() {
    // A login's return: its session leaves the address bar first of all.
    await load(Login.returned());
  }

  async function load(back) {
    show('s-login');
    delete document.body.dataset.upcoming;
    try {
      const [g, view] = await Promise.all([Coco.request('/v1/genesis'), Coco.getJSON('/v1/ballots/' + ballotID)]);
      st.genesisText = g;
      st.view = view;
    } catch (e) {
      if (!Coco.unreachable(e)) {
        Coco.deadEnd(e);
        return;
      }
      $('s-login').hidden = true; // nothing to log in to yet
      fail(Coco.loadError(e), () => load(back));
      return;
    }
    const v = st.view;
    $('question').textContent = v.question;
    document.title = v.question + ' · Cocorico';
    $('proof-question').textContent = v.question;
    st.defText = JSON.stringify(v.definition);
    const regs = v.definition.registrars || [];
    const sel = $('registrar');
    sel.replaceChildren();
    regs.forEach((r, i) => sel.add(new Option(r.name, String(i))));
    $('registrar-field').hidden = regs.length < 2;
    const choices = $('choices');
    choices.replaceChildren();
    v.choices.forEach((label, i) => {
      const id = 'choice-' + i;
      const row = document.createElement('div');
      row.className = 'choice';
      const input = document.createElement('input');
      Object.assign(input, { type: 'radio', name: 'choice', id, value: String(i) });
      const l = document.createElement('label');
      l.htmlFor = id;
      l.textContent = label;
      row.append(input, l);
      choices.append(row);
    });
    if (v.status === 'upcoming') {
      upcoming();
      return;
    }
    if (Coco.ended(v.status)) {
      // Nothing to log in for: the way on is the ballot's results.
      closed();
      return;
    }
    // Whether each registrar logs voters in: asked of the registrars
    // from here (the node is not asked), while the module loads.
    const methods = Promise.all(regs.map((r) => (r.url ? Login.method(r.url) : null)));
    try {
      await Coco.loadWasm();
      st.chain = call('genesisHash', st.genesisText);
    } catch (e) {
      if (e instanceof APIError) failNode(e, () => load(back));
      else fail(t('err_wasm'));
      return;
    }
    st.methods = await methods;
    mine();
    if (back && back.pending && back.pending.registrar < regs.length) sel.value = String(back.pending.registrar);
    showMethod();
    $('login-go').disabled = false;
    $('oidc-go').disabled = false;
    $('login-wait').textContent = '';
    document.body.dataset.readyMs = String(Math.round(performance.now()));
    if (back) await loginReturned(back);
  }

  const registrarIndex = () => Number($('registrar').value || 0);

  // openWalletIfIssued opens the fold-out with "Open a saved file" when
  // the registrar already gave this voter her key elsewhere: the refusal
  // tells her to use that button, which would otherwise be folded away.
  function openWalletIfIssued(e) {
    if (e instanceof APIError && e.code === 'already_issued' && !$('wallet').hidden) $('wallet').open = true;
  }

  // mine fits the page to what this browser holds for the ballot. With no
  // voting key here, the fold-out offers only to open one saved in another
  // browser; with one, to save it too. A voter back on the page after
  // voting (a reload, a bookmark) is told that this browser voted, with a
  // link to each vote's proof, rather than a bare login form.
  function mine() {
    const entries = Object.entries(Wallet.entries(st.chain.genesis_hash, ballotID))
      .filter(([, e]) => e && e.token).map(([id, e]) => ({ id, ...e }));
    const has = entries.length > 0;
    $('wallet-title').textContent = t(has ? 'wallet_title' : 'wallet_title_first');
    $('wallet-text').textContent = t(has ? 'wallet_text' : 'wallet_text_first');
    $('wallet-export').hidden = !has;
    $('wallet').hidden = false;
    const voted = entries.filter((e) => e.counted || (e.casts && e.casts.length))
      .sort((a, b) => String(a.voted_at || '').localeCompare(String(b.voted_at || '')));
    const proofs = voted.map((e) => {
      const li = document.createElement('li');
      const a = document.createElement('a');
      a.href = '/check?cast=' + (e.counted || e.casts[e.casts.length - 1]);
      // Several voters on one browser: each proof names its voter id (a
      // login's entry has none to name, only its date).
      const who = voted.length > 1 && !e.login ? e.id : '';
      a.textContent = who ? t('voted_here_proof_of', { voter: who, date: e.voted_at ? Coco.when(e.voted_at) : '?' })
        : e.voted_at ? t('voted_here_proof_at', { date: Coco.when(e.voted_at) }) : t('voted_here_proof');
      li.append(a);
      return li;
    });
    $('voted-here-proofs').replaceChildren(...proofs);
    $('voted-here-revote').hidden = !st.view.definition.revote;
    $('voted-here').hidden = !proofs.length;
    document.body.dataset.votedHere = String(proofs.length);
  }

  // provider is the name of the selected registrar's login provider, or
  // '' if it has none (a roll: the voter id and code form).
  function provider() {
    const m = st.methods[registrarIndex()];
    return (m && m.login && (m.login.provider || '?')) || '';
  }

  // showMethod shows the selected registrar's way in: the login button
  // (and this browser's keys from earlier logins), the voter id and code
  // form, or both if the registrar has a roll too.
  function showMethod() {
    const p = provider();
    const m = st.methods[registrarIndex()];
    $('oidc').hidden = !p;
    $('login').hidden = !!p && !(m.voters > 0);
    if (!p) return;
    $('oidc-intro').textContent = t('login_oidc_intro', { provider: p });
    $('oidc-go').textContent = t('login_with', { provider: p });
    const list = $('oidc-entries');
    list.replaceChildren();
    const idx = registrarIndex();
    for (const [local, e] of Object.entries(Wallet.entries(st.chain.genesis_hash, ballotID))) {
      if (!e.login || e.registrar !== idx || !e.token) continue;
      const b = document.createElement('button');
      Object.assign(b, { type: 'button', className: 'secondary' });
      b.dataset.local = local;
      b.textContent = t('login_revote', { date: e.logged_in ? Coco.when(e.logged_in) : '?' });
      b.addEventListener('click', () => useEntry(local, e));
      list.append(b);
    }
    $('oidc-known').hidden = list.children.length === 0;
  }

  // useEntry goes on with a wallet entry (its key and token).
  function useEntry(voter, entry) {
    st.voter = voter;
    st.entry = entry;
    $('code').value = '';
    $('revote-note').hidden = !(entry.last_seq > 0);
    mine(); // a new key: the fold-out now offers to save it
    show('s-choose', 'choose-h');
  }

  async function oidcLogin() {
    const idx = registrarIndex();
    const reg = st.view.definition.registrars[idx];
    const p = provider();
    $('oidc-go').disabled = true;
    $('login-wait').textContent = t('login_leaving', { provider: p });
    try {
      await Login.start(reg.url, { ballot: ballotID, chain: st.chain.genesis_hash, registrar: idx, provider: p });
    } catch (e) {
      fail(Login.refusal(e, p), null, e);
      $('oidc-go').disabled = false;
      $('login-wait').textContent = '';
    }
  }

  // loginReturned finishes a login back from the provider: the one-time
  // key, the blinded token, the registrar's blind signature for the
  // session, and a new wallet entry under a random local id.
  async function loginReturned(back) {
    const p = (back.pending && back.pending.provider) || provider();
    const pend = back.pending;
    const ours = pend && pend.ballot === ballotID && pend.chain === st.chain.genesis_hash && !(back.ballot && back.ballot !== ballotID) &&
        st.view.definition.registrars[pend.registrar];
    // An error return is said in the page's own words; its description
    // is shown (under "technical detail") only for a login this tab
    // started: a link anyone can craft (…#error=…&error_description=…)
    // would otherwise put its words on the voting page.
    if (back.error) {
      fail(Login.message(back.error, p), null, ours ? { message: back.error + ': ' + back.message } : null);
      return;
    }
    if (!ours) {
      fail(t('err_login_lost'));
      return;
    }
    const reg = st.view.definition.registrars[pend.registrar];
    $('oidc-go').disabled = true;
    $('login-wait').textContent = t('login_back', { provider: p });
    try {
      const tr = call('tokenRequest', st.genesisText, st.defText, ballotID, pend.registrar);
      const ans = await Coco.postJSON(reg.url.replace(/\/+$/, '') + '/v1/tokens',
        { ballot_id: ballotID, session: back.session, blinded: tr.blinded });
      const tok = call('finalizeToken', tr.handle, ans.blind_signature);
      const local = 'login-' + Coco.randomBase64(12).replace(/[+/=]/g, '');
      const entry = { seed: tr.seed, registrar: pend.registrar, token_prefix: tok.token_prefix, token: tok.token,
        last_seq: 0, casts: [], login: true, logged_in: new Date().toISOString() };
      Wallet.put(st.chain.genesis_hash, ballotID, local, entry);
      useEntry(local, entry);
    } catch (e) {
      fail(Login.refusal(e, p), null, e);
      openWalletIfIssued(e);
    } finally {
      $('oidc-go').disabled = false;
      $('login-wait').textContent = '';
    }
  }

  async function login(ev) {
    ev.preventDefault();
    const voter = $('voter').value.trim();
    // A roll's codes have no spaces at their ends (the import trims
    // them): one typed or pasted there is not part of the code.
    const code = $('code').value.trim();
    if (!voter) { fail(t('err_voter_id_empty')); $('voter').focus(); return; }
    if (!code) { fail(t('err_code_empty')); $('code').focus(); return; }
    const gh = st.chain.genesis_hash;
    const known = Wallet.get(gh, ballotID, voter);
    if (known && known.token) {
      if (call('codeHash', known.code_salt, code).hash !== known.code_hash) { fail(t('err_wrong_code')); $('code').focus(); return; }
      st.entry = known;
    } else {
      const idx = Number($('registrar').value || 0);
      const reg = st.view.definition.registrars[idx];
      if (!reg || !reg.url) { fail(t('err_no_registrar')); return; }
      $('login-go').disabled = true;
      $('login-wait').textContent = t('asking_registrar');
      try {
        const tr = call('tokenRequest', st.genesisText, st.defText, ballotID, idx);
        const ans = await Coco.postJSON(reg.url.replace(/\/+$/, '') + '/v1/tokens',
          { ballot_id: ballotID, voter_id: voter, code, blinded: tr.blinded });
        const tok = call('finalizeToken', tr.handle, ans.blind_signature);
        const salt = Coco.randomBase64(16);
        st.entry = { seed: tr.seed, registrar: idx, token_prefix: tok.token_prefix, token: tok.token,
          last_seq: 0, casts: [], code_salt: salt, code_hash: call('codeHash', salt, code).hash };
        Wallet.put(gh, ballotID, voter, st.entry);
      } catch (e) {
        failRefusal(e, tokenRefusals, 'err_registrar_other', () => $('login').requestSubmit());
        openWalletIfIssued(e);
        return;
      } finally {
        $('login-go').disabled = false;
        $('login-wait').textContent = '';
      }
    }
    useEntry(voter, st.entry);
  }

  function choose(ev) {
    ev.preventDefault();
    const picked = document.querySelector('input[name=choice]:checked');
    if (!picked) { fail(t('choose_legend')); document.querySelector('input[name=choice]').focus(); return; }
    st.choice = Number(picked.value);
    $('chosen').textContent = st.view.choices[st.choice];
    $('progress').hidden = true;
    for (const id of ['p-sent', 'p-block', 'p-final']) $(id).className = '';
    $('confirm').disabled = false;
    $('change').disabled = false;
    show('s-confirm', 'confirm-h');
  }

  function step(id, detail) {
    const li = $(id);
    li.className = 'done';
    if (detail) li.dataset.detail = detail;
  }

  // submit posts the cast, retrying as `cocorico vote` does: a busy node
  // (503) with a growing wait, a re-vote too soon (429 revote_too_soon)
  // after its Retry-After, for a minute at most. A connection the node
  // throttles (429 throttled: too many refused casts from it) is told
  // how long to wait, not retried.
  async function submit(cast) {
    const deadline = Date.now() + 60000;
    let wait = 500;
    for (;;) {
      try {
        return await Coco.postJSON('/v1/casts', cast);
      } catch (e) {
        const soon = e instanceof APIError && e.status === 429 && e.code === 'revote_too_soon';
        const busy = soon || (e instanceof APIError && e.status === 503);
        if (!busy || Date.now() + wait > deadline) throw e;
        const ms = soon ? Math.max(1000, e.retryAfter * 1000) : wait;
        Coco.showWait(t(soon ? 'err_too_soon' : 'err_busy', { seconds: Math.ceil(ms / 1000) }));
        await Coco.sleep(ms);
        Coco.showError('');
        wait = Math.min(wait * 2, 8000);
      }
    }
  }

  async function waitFinal(id) {
    const started = Date.now();
    for (;;) {
      let s = null;
      try { s = await Coco.getJSON('/v1/casts/' + id); } catch (e) { /* keep asking */ }
      if (s && (s.status === 'final' || s.status === 'replaced')) return s;
      if (Date.now() - started > 30000) Coco.showError(t('err_wait'));
      await Coco.sleep(150);
    }
  }

  async function confirm() {
    $('confirm').disabled = true;
    $('change').disabled = true;
    $('progress').hidden = false;
    const t0 = performance.now();
    const e = st.entry;
    const seq = e.last_seq + 1;
    let signed;
    try {
      // A sealed ballot: the module seals the choice to the election key it
      // recomputes from the keyring's signed deals (no node is trusted for it).
      const keyring = st.view.tally === 'sealed'
        ? JSON.stringify((await Coco.getJSON('/v1/ballots/' + ballotID + '/keyring')).keyring) : '';
      signed = call('signCast', st.genesisText, st.defText, ballotID, JSON.stringify({
        ballot_id: ballotID, seq, choice: st.choice, registrar: e.registrar, token_prefix: e.token_prefix, token: e.token,
      }), e.seed, keyring);
    } catch (err) {
      // Nothing is signed yet: trying again is confirming again.
      failNode(err, confirm);
      $('change').disabled = false;
      return;
    }
    // The seq is spent once the cast is signed: keep it before sending.
    e.last_seq = seq;
    e.casts.push(signed.cast_id);
    Wallet.put(st.chain.genesis_hash, ballotID, st.voter, e);
    await send(signed, t0, false);
  }

  // send posts the signed cast and follows it to a checked receipt. Trying
  // again sends the very same cast: the node that had it already says so
  // ("duplicate" while pending, "seq_replay" once final), and the page
  // goes on following it.
  async function send(signed, t0, again) {
    $('change').disabled = true;
    try {
      await submit(signed.cast);
    } catch (err) {
      const known = again && err instanceof APIError && (err.code === 'duplicate' || err.code === 'seq_replay');
      if (!known) {
        if (err instanceof APIError && err.code === 'ballot_closed') { closed(); return; }
        failNode(err, () => send(signed, t0, true));
        $('change').disabled = false;
        return;
      }
    }
    step('p-sent');
    const s = await waitFinal(signed.cast_id);
    step('p-block', String(s.height));
    await receipt(signed, t0);
  }

  // receipt fetches the final cast's receipt and checks it here.
  async function receipt(signed, t0) {
    let v;
    try {
      st.receipt = await Coco.request('/v1/casts/' + signed.cast_id + '/receipt');
      v = call('verifyReceipt', st.genesisText, st.receipt);
    } catch (err) {
      const again = () => receipt(signed, t0);
      if (err instanceof APIError && err.status === 404) fail(t('err_cast_not_final'), again);
      else failNode(err, again);
      return;
    }
    if (!v.valid) {
      fail(t('err_receipt', { check: v.checks.filter((c) => !c.ok).map((c) => t('c_' + c.name)).join(', ') }));
      return;
    }
    step('p-final');
    document.body.dataset.confirmToReceiptMs = String(Math.round(performance.now() - t0));
    counted(v);
  }

  function counted(v) {
    // The voter's own screen says what she voted (the printed proof, which
    // she may show, does not).
    const choice = st.view && Number.isInteger(st.choice) ? st.view.choices[st.choice] : '';
    $('counted-choice').textContent = choice || '';
    $('counted-choice-line').hidden = !choice;
    $('counted-text').textContent = Coco.tv('counted_text', v.signers, v.validators, { height: v.height, signers: v.signers, validators: v.validators });
    const link = location.origin + '/check?cast=' + v.cast_id;
    $('check-link').href = '/check?cast=' + v.cast_id;
    $('proof-cast').textContent = v.cast_id;
    $('proof-block').textContent = String(v.height);
    // The block's time, which the receipt's header carries and its
    // checks (v.valid) bound to the validators' signatures.
    let blockTime = '';
    try { blockTime = JSON.parse(st.receipt).header.time || ''; } catch (e) { /* no time: left blank */ }
    $('proof-time').textContent = blockTime ? Coco.when(blockTime) : '';
    // Kept with the key: a later visit links to this proof (mine).
    if (st.entry) {
      st.entry.counted = v.cast_id;
      st.entry.voted_at = new Date(blockTime || Date.now()).toISOString(); // ISO: entries sort by it
      Wallet.put(st.chain.genesis_hash, ballotID, st.voter, st.entry);
      mine();
    }
    $('proof-ballot').textContent = v.ballot_id;
    $('proof-link').textContent = link;
    const svg = call('qrSVG', link).svg;
    const img = $('qr');
    if (img.src) URL.revokeObjectURL(img.src);
    img.src = URL.createObjectURL(new Blob([svg], { type: 'image/svg+xml' }));
    img.alt = 'QR: ' + link;
    document.body.dataset.castId = v.cast_id;
    show('s-counted', 'counted-h');
  }

  $('login').addEventListener('submit', login);
  $('oidc-go').addEventListener('click', oidcLogin);
  $('registrar').addEventListener('change', () => { Coco.showError(''); showMethod(); });
  $('choose').addEventListener('submit', choose);
  $('confirm').addEventListener('click', confirm);
  $('change').addEventListener('click', () => show('s-choose', 'choose-h'));
  $('upcoming-again').addEventListener('click', () => { clearTimeout(reopen); load(null); });
  $('download').addEventListener('click', () =>
    Coco.download('cocorico-receipt-' + document.body.dataset.castId.slice(0, 16) + '.json', st.receipt));
  $('print').addEventListener('click', () => window.print());
  $('wallet-export').addEventListener('click', () => Coco.download('cocorico-wallet.json', Wallet.exportText()));
  $('wallet-import').addEventListener('change', async (ev) => {
    const f = ev.target.files[0];
    if (!f) return;
    try {
      Wallet.importText(await f.text());
      mine();
      $('wallet-msg').textContent = t('wallet_imported');
      $('wallet-msg').className = '';
    } catch (e) {
      // Not JSON, or not a wallet: said in the page's language, the
      // parser's English folded below.
      $('wallet-msg').textContent = t('wallet_not_wallet');
      $('wallet-msg').className = 'error';
      Coco.explain($('wallet-msg'), e);
    }
  });
  start();
})();
