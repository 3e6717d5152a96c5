// node.js: the node's own page, what a volunteer shows a friend: what
// this machine is, how far it has checked the chain, who signed the last
// block, the recent blocks and how many independent nodes re-verified
// them, and any alarm. Refreshed every 5 s.
'use strict';

(() => {
  const { t, tn, $ } = Coco;
  const fmtN = (n) => new Intl.NumberFormat(Coco.lang).format(n);
  const time = (ms) => new Intl.DateTimeFormat(Coco.lang, { timeStyle: 'medium', hourCycle: 'h23' }).format(new Date(ms));
  // The blocks' times are this browser's clock: its zone goes in the
  // column's heading ("Time (UTC)"), once, not in every row.
  const zone = (new Intl.DateTimeFormat(Coco.lang, { timeZoneName: 'short' }).formatToParts(new Date())
    .find((p) => p.type === 'timeZoneName') || {}).value;
  if (zone) $('node-time-h').textContent = t('node_block_time_zone', { zone });
  const hexToB64 = (hex) => btoa(String.fromCharCode(...hex.match(/../g).map((h) => parseInt(h, 16))));
  const RECENT = 6;

  function cell(text, cls) {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }

  async function refresh() {
    let st;
    try {
      st = await Coco.getJSON('/v1/status');
    } catch (e) {
      $('node-height').textContent = Coco.loadError(e); // polled again in 5 s
      return;
    }
    const volunteer = st.role === 'volunteer';
    // A volunteer that joined from a snapshot verified the votes after it
    // only (verified_from, docs/API.md): the page says so.
    const synced = volunteer && st.verified_from > 1;
    const single = st.validators.length === 1; // a chain of one validator: its own words
    $('node-role').textContent = synced ? t('node_role_volunteer_synced', { h: fmtN(st.verified_from - 1) })
      : volunteer ? t('node_role_volunteer') : t(single ? 'node_role_validator_single' : 'node_role_validator');
    if (single) $('node-validators-hint').textContent = t('node_validators_hint_single');
    if (synced) $('node-intro').textContent = t('node_intro_synced');
    const age = Math.max(0, Math.round((Date.now() - new Date(st.last_block_time)) / 1000));
    $('node-height').textContent = age < 3600 ? tn('node_height_value', age, { h: fmtN(st.height), s: fmtN(age) })
      : t('node_height_since', { h: fmtN(st.height), when: Coco.when(st.last_block_time) });
    const target = st.height + st.behind;
    const bar = $('node-progress');
    if (st.behind > 0) {
      $('node-sync').textContent = tn('node_syncing', st.height, { h: fmtN(st.height), target: fmtN(target),
        pct: Math.floor((100 * st.height) / Math.max(1, target)), rate: fmtN(Math.round(st.synced_casts_per_sec)) });
      bar.hidden = false;
      bar.max = target;
      bar.value = st.height;
    } else {
      // Not behind anyone it knows of: with no peer at all, that says
      // nothing, unless this node is the chain's only validator.
      $('node-sync').textContent = t(st.peers > 0 ? 'node_in_step' : single && !volunteer ? 'node_alone' : 'node_no_peers');
      bar.hidden = true;
    }
    $('node-peers').textContent = fmtN(st.peers);
    $('node-mempool').textContent = tn('node_mempool_value', st.mempool, { n: fmtN(st.mempool) });
    $('node-checks').textContent = tn('node_checks_value', st.attestations, { n: st.attestations });
    document.body.dataset.height = String(st.height);
    document.body.dataset.behind = String(st.behind);
    document.body.dataset.role = st.role;
    const alarm = $('node-alarm');
    if (st.alarms) { // the text first: the box never shows empty
      try {
        const a = await Coco.getJSON('/v1/alarms');
        Coco.showAlarms(alarm, a.alarms, st);
      } catch (e) { alarm.textContent = tn('alarm_text', st.alarms, { n: st.alarms, h: '?', what: '' }); }
    }
    alarm.hidden = !st.alarms;
    document.body.dataset.alarms = String(st.alarms);
    await blocks(st, volunteer ? hexToB64(st.node_id) : '');
  }

  // blocks lists the last few blocks: time, votes, who signed, and how
  // many nodes re-verified them. An attestation of block h vouches for
  // every block before it (docs/PROTOCOL.md §20): the API's count is of
  // the nodes that attested h or a later block, so this node's own mark
  // (✓) goes on every block at or below the newest one it attested.
  async function blocks(st, me) {
    const rows = [];
    let signers = null; // of the last block
    let own = 0;
    let covered = false; // this node attested this block or a later one
    let heartbeats = false; // a block without entries is among them
    for (let h = st.height; h > 0 && h > st.height - RECENT; h--) {
      try {
        const [b, a] = await Promise.all([Coco.getJSON('/v1/blocks/' + h + '?txs=false'),
          Coco.getJSON('/v1/blocks/' + h + '/attestations?limit=200')]);
        if (signers === null) signers = new Set(b.commit.signatures.map((s) => s.validator));
        if (me && a.attestations.some((x) => x.node === me)) {
          covered = true;
          own++;
        }
        const tr = document.createElement('tr');
        tr.append(cell(fmtN(h)), cell(time(b.header.time), 'time'), cell(fmtN(b.tx_ids.length), 'num'),
          cell(a.count + (covered ? ' ✓' : ''), 'num'));
        if (!b.tx_ids.length) heartbeats = true;
        if (covered) tr.title = t('node_attested_by_me');
        rows.push(tr);
      } catch (e) { break; }
    }
    $('node-blocks').replaceChildren(...rows);
    // Blocks with no entries are the heartbeats: said what they are.
    $('node-heartbeats').hidden = !heartbeats;
    document.body.dataset.ownAttestations = String(own);
    $('node-validators').replaceChildren(...st.validators.map((v) => validator(v, signers)));
  }

  // validator says whether v signed the last block. A block is decided
  // as soon as a quorum signed it, so its commit holds a quorum and no
  // more: a validator missing from it was simply not needed (on a healthy
  // devnet of 4, one of them every block, often the same one several
  // blocks in a row). So its absence is said as such, not as a fault.
  function validator(v, signers) {
    const li = document.createElement('li');
    if (!signers) { // no block yet: nobody signed one
      li.textContent = v.name;
      return li;
    }
    const signed = signers.has(v.index);
    li.className = signed ? 'signed' : 'unsigned';
    li.textContent = (signed ? '✓ ' : '· ') + v.name + ' — ' + (signed ? t('node_signed_last') : t('node_not_signed_last'));
    return li;
  }

  refresh();
  setInterval(refresh, 5000);
})();
