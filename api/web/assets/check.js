// check.js: the receipt check. The nine checks run here, in the browser,
// against the genesis of the node that served this page; then a node
// (this one, or the one the voter names) says whether the cast counts.
'use strict';

(() => {
  const { t, $, call, APIError } = Coco;
  let genesisText = '';

  function render(list, checks) {
    list.textContent = '';
    for (const c of checks) {
      const li = document.createElement('li');
      li.className = c.ok ? 'ok' : 'failed';
      li.dataset.check = c.name;
      const name = document.createElement('strong');
      name.textContent = t('c_' + c.name);
      const verdict = document.createElement('span');
      verdict.className = 'verdict-word';
      verdict.textContent = c.ok ? t('check_ok') : t('check_failed');
      const detail = document.createElement('small');
      detail.textContent = c.detail;
      li.append(name, ' ', verdict, detail);
      list.append(li);
    }
  }

  async function check(text) {
    Coco.showError('');
    $('verdict').hidden = true;
    let v;
    try {
      v = call('verifyReceipt', genesisText, text);
    } catch (e) {
      Coco.showError(t('check_not_receipt') + ' (' + (e.message || e) + ')');
      $('error').focus();
      return;
    }
    render($('offline'), v.checks);
    const failed = v.checks.filter((c) => !c.ok).map((c) => t('c_' + c.name));
    $('verdict-text').textContent = v.valid ? t('check_valid') : t('check_invalid') + ' ' + failed.join(', ');
    $('verdict-text').className = 'verdict ' + (v.valid ? 'ok' : 'failed');
    $('online').textContent = '';
    $('counted').textContent = '';
    $('verdict').hidden = false;
    $('verdict-text').focus();
    await askNode(text);
    document.body.dataset.checked = v.valid ? 'valid' : 'invalid';
  }

  // askNode asks the node whether the cast counts; when the node cannot
  // answer, a button asks again.
  async function askNode(text) {
    const node = ($('node').value.trim() || location.origin).replace(/\/+$/, '');
    $('asked').textContent = new URL(node, location.href).host;
    $('online-retry').hidden = true;
    $('counted').textContent = t('check_asking');
    $('counted').className = 'verdict-online';
    try {
      const r = await Coco.postJSON(node + '/v1/receipts/verify', text);
      render($('online'), r.checks.filter((c) => c.name === 'on_chain'));
      $('counted').textContent = r.counted ? t('check_counted') : (r.valid ? t('check_replaced') : t('check_not_counted'));
      $('counted').className = 'verdict-online ' + (r.counted ? 'ok' : 'failed');
    } catch (e) {
      $('counted').textContent = Coco.unreachable(e) ? Coco.unreachableMessage(e) : t('err_node_check', { message: e.message || e });
      $('counted').className = 'verdict-online failed';
      $('online-retry').hidden = false;
      $('online-retry').onclick = () => askNode(text);
    }
  }

  async function fromFile(f) {
    const text = await f.text();
    $('receipt-text').value = text;
    await check(text);
  }

  async function start() {
    $('check-wait').textContent = t('preparing');
    try {
      [genesisText] = await Promise.all([Coco.request('/v1/genesis'), Coco.loadWasm()]);
    } catch (e) {
      $('check-wait').textContent = '';
      if (e instanceof APIError) Coco.showError(Coco.loadError(e), start);
      else Coco.showError(t('err_wasm'));
      $('error').focus();
      return;
    }
    $('check-go').disabled = false;
    $('check-wait').textContent = '';
    document.body.dataset.readyMs = String(Math.round(performance.now()));
    const cast = new URLSearchParams(location.search).get('cast');
    if (cast && /^[0-9a-f]{64}$/.test(cast)) await fetchReceipt(cast);
  }

  // fetchReceipt checks the receipt of the cast the address names (the
  // proof of vote's QR code); when the node cannot answer, a button asks
  // again.
  async function fetchReceipt(cast) {
    $('check-wait').textContent = t('check_fetching');
    let text;
    try {
      text = await Coco.request('/v1/casts/' + cast + '/receipt');
    } catch (e) {
      $('check-wait').textContent = '';
      if (Coco.unreachable(e)) Coco.showError(Coco.unreachableMessage(e), () => fetchReceipt(cast));
      else Coco.showError(e.message || String(e));
      $('error').focus(); // below the form: a phone would not show it
      return;
    }
    $('receipt-text').value = text;
    $('check-wait').textContent = '';
    await check(text);
  }

  $('check-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = $('receipt-text').value.trim();
    if (text) check(text);
    else $('receipt-text').focus();
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
