// ballot.js: the node's list of ballots and a ballot's page with its
// live results, read from the node's API.
'use strict';

(() => {
  const { t, tn, $ } = Coco;
  const id = document.body.dataset.ballot;
  const fmtN = (n) => new Intl.NumberFormat(Coco.lang).format(n);

  async function list() {
    const ul = $('ballots');
    Coco.showError('');
    try {
      const page = await Coco.getJSON('/v1/ballots?limit=50');
      ul.textContent = '';
      for (const b of page.ballots) {
        const li = document.createElement('li');
        const a = document.createElement('a');
        a.href = '/ballots/' + b.ballot_id;
        a.textContent = b.question;
        const s = document.createElement('span');
        s.className = 'status status-' + b.status;
        s.textContent = t('status_' + b.status);
        li.append(a, ' ', s);
        ul.append(li);
      }
      if (!page.ballots.length) ul.textContent = t('ballots_none');
    } catch (e) {
      ul.textContent = '';
      Coco.showError(Coco.loadError(e), Coco.unreachable(e) ? list : null);
    }
  }

  async function results() {
    const box = $('results');
    try {
      const r = await Coco.getJSON('/v1/ballots/' + id + '/results');
      if (r.sealed) { // no count before the keykeepers' count: the turnout only
        const p = document.createElement('p');
        p.className = 'total';
        p.textContent = tn('results_sealed', r.casts.counted, { n: r.casts.counted });
        box.replaceChildren(p);
        return r.status;
      }
      const total = r.choices.reduce((n, c) => n + c.count, 0);
      const list = document.createElement('ul');
      list.className = 'results';
      for (const [i, c] of r.choices.entries()) {
        const li = document.createElement('li');
        const head = document.createElement('div');
        head.className = 'result-head';
        const label = document.createElement('span');
        label.className = 'label';
        label.textContent = c.label;
        const n = document.createElement('span');
        n.className = 'count';
        n.textContent = fmtN(c.count) + (total ? ' (' + Coco.pct((100 * c.count) / total) + ')' : '');
        head.append(label, n);
        const m = document.createElement('meter');
        // The results page's colour of this answer (.bar-i), no meter's
        // green for the leading one: no answer looks "good".
        Object.assign(m, { min: 0, max: Math.max(total, 1), value: c.count, className: 'meter-' + (i % 4) });
        m.setAttribute('aria-label', c.label);
        li.append(head, m);
        list.append(li);
      }
      const p = document.createElement('p');
      p.className = 'total';
      // Once closed, none is said in the past: no "yet" next to "final".
      p.textContent = total ? fmtN(total) + ' ' + tn('votes_counted', total) : t(Coco.ended(r.status) ? 'results_none_done' : 'results_none');
      box.replaceChildren(list, p);
      document.body.dataset.counted = String(total);
      if (failing) Coco.showError('');
      failing = false;
      return r.status;
    } catch (e) {
      // The page polls: it says the node is not answering and keeps
      // asking; the button asks at once.
      if (!failing || !$('error').textContent) Coco.showError(Coco.loadError(e), poll);
      failing = true;
      return '';
    }
  }
  let failing = false;

  // showStatus shows the ballot's status; when it is not open, in place
  // of the vote button, why there is no voting now and where the results
  // are.
  function showStatus(v) {
    $('status').textContent = t('status_' + v.status);
    $('status').className = 'status status-' + v.status;
    const key = { upcoming: 'ballot_upcoming', closed: 'ballot_closed_counting', tallied: 'ballot_closed_final' }[v.status];
    $('vote-p').hidden = !!key;
    $('ballot-note').hidden = !key;
    $('results-hint').hidden = v.status !== 'open';
    // Before the opening there is nothing to count: no empty results.
    $('results-section').hidden = v.status === 'upcoming';
    document.body.dataset.status = v.status;
    if (!key) return;
    $('ballot-note-text').textContent = t(key, { date: Coco.when(v.status === 'upcoming' ? v.opens_at : v.closes_at) });
    $('ballot-note-results').hidden = v.status === 'upcoming';
  }

  // poll reads the results while they can change: every 3 s while the
  // ballot is open, every 10 s once it closed until its count is final,
  // then no more. An upcoming ballot has no votes: the page reads the
  // ballot again at its opening time.
  let view = null;
  let timer = 0;
  async function poll() {
    clearTimeout(timer);
    const status = await results();
    if (status && status !== view.status) {
      view.status = status;
      showStatus(view);
    }
    clearTimeout(timer); // a retry's poll may have run meanwhile: one timer
    if (view.status === 'tallied') {
      document.body.dataset.polling = 'done';
      return;
    }
    timer = view.status === 'upcoming' ? Coco.at(view.opens_at, ballot) : setTimeout(poll, view.status === 'open' ? 3000 : 10000);
  }

  // A node out of reach: the page says so once (not at every attempt,
  // which a screen reader would read out each time), tries again every
  // 5 s by itself, as the results page keeps polling, and its button
  // tries at once.
  let down = '';
  async function ballot() {
    clearTimeout(timer);
    try {
      const v = await Coco.getJSON('/v1/ballots/' + id);
      $('question').textContent = v.question;
      document.title = v.question + ' · Cocorico';
      $('opens').textContent = Coco.when(v.opens_at);
      if (Date.parse(v.opens_at) <= Date.now()) $('opens-label').textContent = t('opened');
      if (Date.parse(v.closes_at) <= Date.now()) $('closes-label').textContent = t('closed_at');
      $('closes').textContent = Coco.when(v.closes_at);
      showStatus(v);
      view = v;
      if (down) Coco.showError('');
      down = '';
    } catch (e) {
      if (!Coco.unreachable(e)) {
        Coco.deadEnd(e);
        return;
      }
      const msg = Coco.loadError(e);
      if (msg !== down) Coco.showError(msg, ballot);
      down = msg;
      timer = setTimeout(ballot, 5000);
      return;
    }
    await poll();
  }

  if (document.body.dataset.page === 'index') list();
  else ballot();
})();
