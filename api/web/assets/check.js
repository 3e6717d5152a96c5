// check.js: the receipt check. The nine checks run here, in the browser,
// against the genesis of the node that served this page; then a node
// (this one, or the one the voter names) says whether the cast counts.
'use strict';

(() => {
  const { t, $, call, APIError } = Coco;
  $('node').placeholder = location.origin; // the node asked when the field is left empty
  let genesisText = '';
  let chain = null; // {chain_id, genesis_hash} of this node's genesis

  // A check's detail comes from the module (ballot.Receipt.Verify) or the
  // node in English. The voter reads it in the page's language instead:
  // the check's name is the stable code, the figures come from the
  // receipt itself; the English text stays behind "technical detail", and
  // is the line itself only for a check this page does not know.
  function detail(c, ctx) {
    const r = ctx.receipt || {};
    if (c.ok) {
      const vars = {
        v: r.version, chain: r.chain_id, genesis: r.genesis_hash, ballot: r.ballot_id, cast: r.cast_id,
        height: r.height, block: r.commit && r.commit.block_hash,
        index: r.proof ? r.proof.index + 1 : '?', total: r.proof ? r.proof.total : '?',
        signers: ctx.view ? ctx.view.signers : '?', validators: ctx.view ? ctx.view.validators : '?',
      };
      if (c.name === 'commit' && ctx.view) return Coco.tv('cd_commit', ctx.view.signers, ctx.view.validators, vars);
      return Coco.has('cd_' + c.name) ? t('cd_' + c.name, vars) : c.detail;
    }
    if (c.detail === 'missing') return t('cf_missing'); // ballot.errMissing: the part is absent
    if (c.name === 'version') return t('cf_version', { v: r.version });
    if (c.name === 'chain' && chain && r.chain_id !== chain.chain_id) {
      return t('cf_chain_other', { receipt: r.chain_id, node: chain.chain_id });
    }
    return Coco.has('cf_' + c.name) ? t('cf_' + c.name) : c.detail;
  }

  function render(list, checks, ctx) {
    list.textContent = '';
    for (const c of checks) {
      const li = document.createElement('li');
      li.className = c.ok ? 'ok' : 'failed';
      li.dataset.check = c.name;
      const name = document.createElement('strong');
      name.textContent = Coco.has('c_' + c.name) ? t('c_' + c.name) : c.name;
      const verdict = document.createElement('span');
      verdict.className = 'verdict-word';
      verdict.textContent = c.ok ? t('check_ok') : t('check_failed');
      const text = detail(c, ctx);
      const small = document.createElement('small');
      small.className = 'detail';
      small.textContent = text;
      li.append(name, ' ', verdict, small);
      if (!c.ok && text !== c.detail && c.detail) li.append(Coco.technical(c.detail));
      list.append(li);
    }
  }

  // checkRefusals says why a node did not answer the check (Coco.refusal):
  // an unknown code gets ce_unknown, naming the node and the status.
  const checkRefusals = {
    not_found: 'ce_not_node', http_404: 'ce_not_node', http_405: 'ce_not_node', http_200: 'ce_not_node',
    bad_request: 'ce_bad_receipt', malformed: 'ce_bad_receipt', http_400: 'ce_bad_receipt',
    body_too_large: 'ce_too_large', too_large: 'ce_too_large', http_413: 'ce_too_large',
    throttled: 'ce_throttled', http_429: 'ce_throttled',
    unauthorized: 'ce_forbidden', not_authorized: 'ce_forbidden', admin_disabled: 'ce_forbidden',
    http_401: 'ce_forbidden', http_403: 'ce_forbidden',
  };

  // why says in the page's language why the node did not answer.
  const why = (e) => Coco.refusal(e, checkRefusals, 'ce_unknown');

  // refused shows in box (replacing its text) why the node did not
  // answer, its English message folded away below it.
  function refused(box, e) {
    box.textContent = why(e);
    Coco.explain(box, e);
  }

  // showRefusal is refused in the page's alert area, with a button that
  // calls retry.
  function showRefusal(e, retry) {
    Coco.showRefusal(why(e), e, retry);
  }

  // nodeURL is the node the voter names (this one when the field is
  // empty), without a trailing slash; null when it is not an http(s)
  // address. A bare host ("node.example.org") means https.
  function nodeURL() {
    let v = $('node').value.trim();
    if (!v) return location.origin;
    // A bare IP address or localhost, asked from a page served over
    // http (a devnet, a node on the local network), takes http as well.
    const local = /^(localhost|\d{1,3}(\.\d{1,3}){3}|\[[0-9a-f:.]+\])(:\d+)?(\/|$)/i.test(v);
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(v)) v = (local && location.protocol === 'http:' ? 'http://' : 'https://') + v;
    try {
      const u = new URL(v);
      if ((u.protocol !== 'https:' && u.protocol !== 'http:') || !/^([a-z0-9-]+\.)*[a-z0-9-]+$|^\[[0-9a-f:.]+\]$/i.test(u.hostname)) return null;
      return (u.origin + u.pathname).replace(/\/+$/, '');
    } catch (e) {
      return null;
    }
  }

  // otherChain reports whether checks say the receipt is of another chain
  // than the checker's (its "chain" check failed).
  const otherChain = (checks) => checks.some((c) => c.name === 'chain' && !c.ok);

  async function check(text) {
    Coco.showError('');
    $('verdict').hidden = true;
    let v;
    try {
      v = call('verifyReceipt', genesisText, text);
    } catch (e) {
      Coco.showRefusal(t('check_not_receipt'), e);
      $('error').focus();
      return;
    }
    let receipt = {};
    try { receipt = JSON.parse(text); } catch (e) { /* the module read it: it is JSON */ }
    const ctx = { receipt, view: v };
    render($('offline'), v.checks, ctx);
    const failed = v.checks.filter((c) => !c.ok).map((c) => t('c_' + c.name));
    // A receipt of another chain fails the checks that depend on it too:
    // the headline says why, not the list of what followed from it.
    $('verdict-text').textContent = v.valid ? t('check_valid') : otherChain(v.checks) ? t('cf_chain')
      : Coco.tn('check_invalid', failed.length) + ' ' + failed.join(', ');
    $('verdict-text').className = 'verdict ' + (v.valid ? 'ok' : 'failed');
    // The checks one by one are folded under the answers (does the proof
    // hold, does the vote count); open when one failed, to say which.
    $('check-details').open = !v.valid;
    $('online').textContent = '';
    $('counted').textContent = '';
    $('verdict').hidden = false;
    $('verdict-text').focus();
    await askNode(text, ctx);
    document.body.dataset.checked = v.valid ? 'valid' : 'invalid';
  }

  // askNode asks the node whether the cast counts; when the node cannot
  // answer, a button asks again.
  async function askNode(text, ctx) {
    const node = nodeURL();
    $('online-retry').hidden = true;
    if (!node) {
      $('asked').textContent = '';
      $('counted').textContent = t('ce_bad_address', { address: $('node').value.trim() });
      $('counted').className = 'verdict-online failed';
      return;
    }
    $('asked').textContent = node; // the very address asked, scheme included
    $('counted').textContent = t('check_asking');
    $('counted').className = 'verdict-online';
    try {
      const r = await Coco.postJSON(node + '/v1/receipts/verify', text);
      if (!r || !Array.isArray(r.checks)) {
        throw new APIError(200, 'http_200', 'the answer is not a receipt check: ' + JSON.stringify(r).slice(0, 200), 0, new URL(node).host);
      }
      render($('online'), r.checks.filter((c) => c.name === 'on_chain'), ctx);
      // The node asked is of another chain than the receipt (its own
      // chain check failed where this page's passed): it cannot say.
      if (otherChain(r.checks) && !otherChain(ctx.view.checks)) {
        $('counted').textContent = t('check_node_other_chain', { host: new URL(node).host });
        $('counted').className = 'verdict-online failed';
        document.body.dataset.replaced = 'false';
        return;
      }
      // A vote replaced by a later one of the same voter is no failure
      // of the proof, but the voter must read it first (whoever coerced
      // her or took her voting key may have voted again): the warning
      // takes the verdict's place, not in green, and the line below
      // says that the proof itself holds.
      const replaced = !r.counted && r.valid;
      if (replaced) {
        $('verdict-text').textContent = t('check_replaced');
        $('verdict-text').className = 'verdict warn';
      }
      $('counted').textContent = r.counted ? t('check_counted') : (replaced ? t('check_replaced_proof') : t('check_not_counted'));
      $('counted').className = 'verdict-online ' + (r.counted ? 'ok' : (replaced ? '' : 'failed'));
      document.body.dataset.replaced = String(replaced);
      if (!r.counted && !r.valid) $('check-details').open = true;
    } catch (e) {
      refused($('counted'), e);
      $('counted').className = 'verdict-online failed';
      $('online-retry').hidden = false;
      $('online-retry').onclick = () => askNode(text, ctx);
    }
  }

  async function fromFile(f) {
    $('receipt-file-name').textContent = t('receipt_chosen', { name: f.name });
    let text;
    try {
      text = await f.text();
    } catch (e) { // moved or deleted since it was chosen, or unreadable
      Coco.showRefusal(t('check_file_unreadable', { name: f.name }), e);
      $('error').focus();
      return;
    }
    $('receipt-text').value = text;
    await check(text);
  }

  async function start() {
    $('check-wait').textContent = t('preparing');
    try {
      [genesisText] = await Promise.all([Coco.request('/v1/genesis'), Coco.loadWasm()]);
      chain = call('genesisHash', genesisText);
    } catch (e) {
      $('check-wait').textContent = '';
      if (e instanceof APIError) showRefusal(e, start);
      else Coco.showError(t('err_wasm'));
      $('error').focus();
      return;
    }
    $('check-go').disabled = false;
    $('check-wait').textContent = '';
    document.body.dataset.readyMs = String(Math.round(performance.now()));
    const cast = new URLSearchParams(location.search).get('cast');
    if (cast === null) return;
    const number = voteNumber(cast);
    if (number) await fetchReceipt(number);
    else {
      Coco.showError(t('check_bad_cast'));
      $('error').focus();
    }
  }

  // voteNumber returns the vote number (a cast id, 64 hexadecimal
  // characters) text is, or names as a check link's ?cast=; null when it
  // is neither. A number copied from paper may have spaces or capitals.
  function voteNumber(text) {
    let v = text.trim();
    const m = /[?&]cast=([0-9a-fA-F]{64})\b/.exec(v);
    if (m) v = m[1];
    v = v.replace(/\s+/g, '').toLowerCase();
    return /^[0-9a-f]{64}$/.test(v) ? v : null;
  }

  // fetchReceipt checks the receipt of the cast the address names (the
  // proof of vote's QR code). A node that does not know the cast says so
  // in its words ("not found: cast … is not final on this node"): the
  // voter reads what it means and what to do instead, and can ask again.
  async function fetchReceipt(cast) {
    $('check-wait').textContent = t('check_fetching');
    let text;
    try {
      text = await Coco.request('/v1/casts/' + cast + '/receipt');
    } catch (e) {
      $('check-wait').textContent = '';
      const again = () => fetchReceipt(cast);
      if (e instanceof APIError && (e.status === 404 || e.code === 'not_found')) Coco.showError(t('check_cast_unknown'), again, 'check_again');
      else showRefusal(e, again);
      $('error').focus(); // below the form: a phone would not show it
      document.body.dataset.checked = 'unknown';
      return;
    }
    $('receipt-text').value = text;
    $('check-wait').textContent = '';
    await check(text);
  }

  $('check-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = $('receipt-text').value.trim();
    const number = voteNumber(text);
    if (number) fetchReceipt(number);
    else if (text) check(text);
    else {
      Coco.showError(t('check_empty'));
      $('receipt-text').focus();
    }
  });
  $('receipt-file').addEventListener('change', (ev) => { if (ev.target.files[0]) fromFile(ev.target.files[0]); });
  const drop = $('drop');
  drop.addEventListener('dragover', (ev) => { ev.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (ev) => {
    ev.preventDefault();
    drop.classList.remove('over');
    if (ev.dataTransfer.files[0]) fromFile(ev.dataTransfer.files[0]);
  });
  start();
})();
