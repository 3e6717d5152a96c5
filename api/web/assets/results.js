// results.js: a ballot's results page. It polls the node's results with
// If-None-Match (a 304 costs the node no body), draws the counts as an SVG
// chart, asks each registrar the ballot names how many tokens it issued
// (the browser asks; a node never fetches a URL from the chain), and
// checks the figures in the WebAssembly module: the results' proof into
// the app hash and the next block's commit by the genesis validators.
'use strict';

(() => {
  const { t, tn, $ } = Coco;
  const id = document.body.dataset.ballot;
  const SVG = 'http://www.w3.org/2000/svg';
  const pct = (n, total) => (total ? (100 * n) / total : 0);
  const fmtPct = (x) => Coco.pct(x);
  const fmtN = (n) => new Intl.NumberFormat(Coco.lang).format(n);
  let etag = '';
  let status = ''; // the ballot's, as the last results said
  let ctx = null; // genesis and definition, read once
  let reverified = null; // {n, height, counts} of the last figures volunteers attested

  function svg(name, attrs, text) {
    const e = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // chart draws one horizontal bar per choice, with its label above and
  // its share at its end. A bar's length is its share of the votes counted,
  // as on the ballot page: drawn over its full-width track, a bar scaled to
  // the leader's filled the track, and 67 % read as everyone.
  function chart(choices, total) {
    // As wide as the box it is drawn in, so that one unit is one pixel and
    // the text keeps its size on a wide screen too (a fixed 360 grew it to
    // twice the page's text at 1280 px).
    const rowH = 54, w = Math.max(240, Math.round($('chart').clientWidth) || 360);
    const s = svg('svg', { viewBox: `0 0 ${w} ${rowH * choices.length}`, role: 'img', class: 'bars',
      'aria-label': t('chart_label') });
    choices.forEach((c, i) => {
      const y = i * rowH;
      const label = svg('text', { x: 0, y: y + 18, class: 'bar-label' }, c.label);
      label.append(svg('title', {}, c.label));
      s.append(label);
      s.append(svg('rect', { x: 0, y: y + 26, width: w, height: 22, rx: 4, class: 'bar-bg' }));
      const bw = Math.max(c.count ? 4 : 0, Math.round((w * pct(c.count, total)) / 100));
      s.append(svg('rect', { x: 0, y: y + 26, width: bw, height: 22, rx: 4, class: 'bar bar-' + (i % 4) }));
      s.append(svg('text', { x: w - 4, y: y + 18, 'text-anchor': 'end', class: 'bar-value' },
        fmtN(c.count) + ' · ' + fmtPct(pct(c.count, total))));
    });
    return s;
  }

  // tnd is tn, but once the ballot is closed a count of none says so in
  // the past ("No vote was counted."), from the key + '_done' message: no
  // "yet" next to a final result.
  function tnd(key, n, vars) {
    return Coco.ended(status) && n === 0 && Coco.has(key + '_done') ? t(key + '_done', vars) : tn(key, n, vars);
  }

  // draw puts the chart on the page, then shortens each label that would
  // run under its count ("…"; the table below has it whole, and the
  // label's title too): a long answer on a phone crossed "0 · 0 %".
  function draw(choices, total) {
    const s = chart(choices, total);
    $('chart').replaceChildren(s);
    const labels = s.querySelectorAll('.bar-label');
    s.querySelectorAll('.bar-value').forEach((value, i) => {
      const label = labels[i];
      const room = value.getBBox().x - 12;
      const text = label.firstChild;
      if (room <= 0 || label.getComputedTextLength() <= room) return;
      const whole = text.data;
      for (let n = whole.length - 1; n > 0 && label.getComputedTextLength() > room; n--) text.data = whole.slice(0, n).trimEnd() + '…';
    });
  }

  let drawn = null; // the results the chart shows, drawn again at a new width
  window.addEventListener('resize', () => { if (drawn) draw(drawn.choices, drawn.casts.counted); });

  function show(r) {
    const total = r.casts.counted;
    status = r.status;
    // Before the opening there is nothing to count: no tables of zeros,
    // only when voting opens (the page reads the results again then).
    const upcoming = r.status === 'upcoming';
    for (const s of document.querySelectorAll('main section')) s.hidden = upcoming;
    drawn = r;
    draw(r.choices, total);
    $('chart-caption').textContent = tnd('chart_caption', total, { n: fmtN(total) });
    const rows = r.choices.map((c) => {
      const tr = document.createElement('tr');
      const th = document.createElement('th');
      th.scope = 'row';
      th.textContent = c.label;
      const n = document.createElement('td');
      n.className = 'num';
      n.textContent = fmtN(c.count);
      const p = document.createElement('td');
      p.className = 'num';
      p.textContent = fmtPct(pct(c.count, total));
      tr.append(th, n, p);
      return tr;
    });
    $('counts').replaceChildren(...rows);
    const final = r.status === 'tallied';
    $('state').textContent = final ? t('final_result') : r.status === 'open' ? t('live_result') : t('status_' + r.status);
    $('state').className = 'status ' + (final ? 'status-final' : 'status-' + r.status);
    $('updated').textContent = final ? '' : upcoming ? t('results_upcoming', { date: Coco.when(ctx.opens) }) : t('live_hint');
    $('turnout').textContent = tnd('turnout_counted', total, { n: fmtN(total) });
    const all = r.casts.final + r.casts.pending;
    // Two counts, each with its own plural; no "0 are waiting".
    $('finality').textContent = !all ? tnd('finality_none', 0)
      : tn('finality_final', r.casts.final, { final: fmtN(r.casts.final), pct: fmtPct(pct(r.casts.final, all)) }) +
        // Re-votes are said only when there were some.
        (r.casts.replaced ? ' ' + tn('finality_replaced', r.casts.replaced, { n: fmtN(r.casts.replaced) }) : '') +
        (r.casts.pending ? ' ' + tn('finality_pending', r.casts.pending, { pending: fmtN(r.casts.pending) }) : '');
    // Volunteers attest a block every few seconds: the newest figures may
    // not be attested yet while the same counts, a block earlier, were.
    const counts = JSON.stringify(r.results.counts);
    if (r.attestations > 0 || !reverified || reverified.counts !== counts) {
      reverified = { n: r.attestations, height: r.height, counts };
    }
    // The facts' block (its height, fingerprint and this line) changes
    // once check has read it.
    reverifiedLine(factsAt || r.height);
    document.body.dataset.counted = String(total);
    document.body.dataset.height = String(r.height);
    document.body.dataset.attestations = String(reverified.n);
    document.body.dataset.final = String(final);
    return final;
  }

  // asOf names the block the facts describe: the figures' block and, for
  // the re-verification line, whether the volunteers attested those very
  // figures or the same counts at another block.
  let factsAt = 0; // the block the facts name, once check has read it
  function asOf(h) {
    factsAt = h;
    $('height').textContent = fmtN(h);
    document.body.dataset.asOf = String(h);
    reverifiedLine(h);
  }

  function reverifiedLine(h) {
    $('reverified').textContent = reverified.n === 0 ? t('reverified_pending')
      : tn(reverified.height === h ? 'reverified_by' : 'reverified_by_at', reverified.n, { n: reverified.n, h: reverified.height });
  }

  // rolls holds each registrar's roll size, asked once (its /v1/status):
  // the share of voting rights used is not the turnout, and the roll's
  // size lets the reader see the difference. 0: no roll (a login only),
  // or the registrar did not say.
  const rolls = new Map();
  async function rollSize(url) {
    if (!rolls.has(url)) rolls.set(url, Coco.getJSON(url + '/v1/status').then((st) => Number(st.voters) || 0, () => 0));
    return rolls.get(url);
  }

  async function issued(def, counted) {
    const items = [];
    for (const reg of def.registrars || []) {
      const li = document.createElement('li');
      if (!reg.url) continue;
      const url = reg.url.replace(/\/+$/, '');
      try {
        const [v, roll] = await Promise.all([Coco.getJSON(url + '/v1/ballots/' + id + '/issuance'), rollSize(url)]);
        li.textContent = tnd('issued_by', v.tokens_issued, { name: reg.name, n: fmtN(v.tokens_issued),
          pct: fmtPct(pct(counted, v.tokens_issued)) }) + (roll ? ' ' + tn('issued_roll', roll, { n: fmtN(roll) }) : '');
      } catch (e) {
        li.textContent = t('issued_unknown', { name: reg.name });
      }
      items.push(li);
    }
    $('issued').replaceChildren(...items);
  }

  // check verifies the served figures in the module. The results as of
  // block h (the state after it) are signed with block h+1, whose header
  // carries their app hash (docs/API.md, GET /v1/ballots/{id}/results):
  // the newest figures wait for the next block (at most the chain's
  // heartbeat), so the page also checks the figures it showed before, and
  // says "signed" when those signed counts are the ones on screen. The
  // facts name the block the figures on screen are as of (h) and the
  // signatures line the block that carries their signatures (h+1), as
  // `cocorico results` does ("block h+1 commits to them"). When the
  // newest block left the counts as they were signed a block earlier,
  // the facts are those of that earlier block: one block for the figures,
  // the next for their signatures, never two blocks for the same figures.
  let prev = null;
  let signed = null; // {height, counts, signers, validators}
  async function check(r, text) {
    const out = $('signed');
    try {
      await Coco.loadWasm();
      const cands = [{ r, text }];
      if (prev && prev.r.height < r.height) cands.push(prev);
      let first = true;
      // The next block is asked for only once the node has it: a 404
      // would be a red line in the browser's console at every poll.
      const newest = await Coco.getJSON('/v1/status').then((st) => st.height, () => Infinity);
      for (const c of cands) {
        let next = '';
        try {
          if (newest > c.r.height) next = await Coco.request('/v1/blocks/' + (c.r.height + 1) + '?txs=false');
        } catch (e) {
          if (e.status !== 404) throw e;
        }
        // The proof into the app hash is checked even without the next block.
        const v = Coco.call('verifyResults', ctx.genesis, JSON.stringify(ctx.def), id, c.text, next);
        if (v.signed && (!signed || c.r.height >= signed.height)) {
          signed = { height: c.r.height, counts: JSON.stringify(c.r.results.counts), signers: v.signers, validators: v.validators };
        }
        if (v.signed || !first) break;
        first = false;
      }
      prev = { r, text };
      const shown = signed && signed.counts === JSON.stringify(r.results.counts);
      const h = shown ? signed.height : r.height;
      // The block's fingerprint first: the facts change together.
      const hdr = await Coco.getJSON('/v1/blocks/' + h + '?txs=false');
      $('block').textContent = hdr.hash;
      asOf(h);
      out.textContent = !shown ? t('signed_waiting', { h: fmtN(r.height + 1) })
        : Coco.tv('signed_by', signed.signers, signed.validators, { n: signed.signers, of: signed.validators, h: fmtN(signed.height + 1) });
      out.className = shown ? 'ok' : '';
      document.body.dataset.signed = shown ? String(signed.signers) : '';
      document.body.dataset.signedBlock = shown ? String(signed.height + 1) : '';
    } catch (e) {
      if (Coco.unreachable(e)) return; // not a failed check: the poll says the node is unreachable
      out.textContent = t('check_failed_results', { err: e.message });
      out.className = 'failed';
      document.body.dataset.signed = 'failed';
    }
  }

  async function alarms() {
    try {
      const a = await Coco.getJSON('/v1/alarms');
      const box = $('alarm');
      box.hidden = !a.alarms.length;
      if (a.alarms.length) {
        Coco.showAlarms(box, a.alarms, await Coco.getJSON('/v1/status'));
      }
    } catch (e) { /* the page still shows the results */ }
  }

  // The node not answering: the page says so once (not at every poll,
  // which a screen reader would read out each time), keeps polling, and
  // its button polls at once.
  let timer = 0;
  let failing = '';
  function unreachable(e) {
    const msg = Coco.loadError(e);
    if (msg !== failing) Coco.showError(msg, () => { clearTimeout(timer); failing = ''; poll(); });
    failing = msg;
  }

  async function poll() {
    let final = false;
    const host = location.host;
    try {
      let resp;
      try {
        resp = await fetch('/v1/ballots/' + id + '/results', { cache: 'no-store', credentials: 'omit',
          headers: etag ? { 'If-None-Match': etag } : {} });
      } catch (e) {
        throw new Coco.APIError(0, 'network', String(e), 0, host);
      }
      if (resp.status >= 500) throw new Coco.APIError(resp.status, 'http_' + resp.status, resp.statusText, 0, host);
      if (failing && (resp.status === 200 || resp.status === 304)) {
        failing = '';
        Coco.showError('');
      }
      if (resp.status === 200) {
        etag = resp.headers.get('ETag') || '';
        const text = await resp.text();
        const r = JSON.parse(text);
        final = show(r);
        // Upcoming: no figures to check nor turnout to ask for yet.
        await Promise.all(r.status === 'upcoming' ? [alarms()] : [check(r, text), issued(ctx.def, r.casts.counted), alarms()]);
      } else if (resp.status === 304) {
        final = document.body.dataset.final === 'true';
      }
    } catch (e) {
      unreachable(e);
    }
    // Open: every 3 s (a 304 while nothing changed); final: the counts
    // no longer move, only attestations arrive; upcoming: nothing moves
    // before the opening time.
    clearTimeout(timer);
    timer = status === 'upcoming' ? Coco.at(ctx.opens, poll) : setTimeout(poll, final ? 15000 : 3000);
  }

  async function start() {
    try {
      const [genesis, b] = await Promise.all([Coco.request('/v1/genesis'), Coco.getJSON('/v1/ballots/' + id)]);
      ctx = { genesis, def: b.definition, opens: b.opens_at };
      $('question').textContent = b.question;
      document.title = t('results') + ' · ' + b.question + ' · Cocorico';
    } catch (e) {
      if (Coco.unreachable(e)) Coco.showError(Coco.loadError(e), start);
      else Coco.deadEnd(e);
      return;
    }
    poll();
  }
  start();
})();
