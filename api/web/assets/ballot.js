// ballot.js: the node's list of ballots and a ballot's page with its
// live results, read from the node's API.
'use strict';

(() => {
  const { t, tn, $ } = Coco;
  const id = document.body.dataset.ballot;

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
        p.textContent = t('results_sealed', { n: r.casts.counted });
        box.replaceChildren(p);
        return;
      }
      const total = r.choices.reduce((n, c) => n + c.count, 0);
      const list = document.createElement('ul');
      list.className = 'results';
      for (const c of r.choices) {
        const li = document.createElement('li');
        const head = document.createElement('div');
        head.className = 'result-head';
        const label = document.createElement('span');
        label.className = 'label';
        label.textContent = c.label;
        const n = document.createElement('span');
        n.className = 'count';
        n.textContent = String(c.count) + (total ? ' (' + Math.round((100 * c.count) / total) + ' %)' : '');
        head.append(label, n);
        const m = document.createElement('meter');
        Object.assign(m, { min: 0, max: Math.max(total, 1), value: c.count });
        m.setAttribute('aria-label', c.label);
        li.append(head, m);
        list.append(li);
      }
      const p = document.createElement('p');
      p.className = 'total';
      p.textContent = total ? total + ' ' + tn('votes_counted', total) : t('results_none');
      box.replaceChildren(list, p);
      document.body.dataset.counted = String(total);
      if (failing) Coco.showError('');
      failing = false;
    } catch (e) {
      // The page polls: it says the node is not answering and keeps
      // asking; the button asks at once.
      if (!failing || !$('error').textContent) Coco.showError(Coco.loadError(e), results);
      failing = true;
    }
  }
  let failing = false;

  // closedNote says, in place of the vote button, why there is no voting
  // now and where the results are.
  function closedNote(v) {
    const key = { upcoming: 'ballot_upcoming', closed: 'ballot_closed_counting', tallied: 'ballot_closed_final' }[v.status];
    if (!key) return;
    $('vote-p').hidden = true;
    $('ballot-note-text').textContent = t(key, { date: Coco.when(v.status === 'upcoming' ? v.opens_at : v.closes_at) });
    $('ballot-note-results').hidden = v.status === 'upcoming';
    $('ballot-note').hidden = false;
    if (v.status === 'tallied') $('results-hint').hidden = true;
    document.body.dataset.status = v.status;
  }

  async function ballot() {
    Coco.showError('');
    try {
      const v = await Coco.getJSON('/v1/ballots/' + id);
      $('question').textContent = v.question;
      document.title = v.question + ' · Cocorico';
      $('status').textContent = t('status_' + v.status);
      $('status').className = 'status status-' + v.status;
      $('opens').textContent = Coco.when(v.opens_at);
      $('closes').textContent = Coco.when(v.closes_at);
      closedNote(v);
    } catch (e) {
      if (Coco.unreachable(e)) Coco.showError(Coco.loadError(e), ballot);
      else Coco.deadEnd(Coco.loadError(e));
      return;
    }
    await results();
    setInterval(results, 3000);
  }

  if (document.body.dataset.page === 'index') list();
  else ballot();
})();
