// wallet.js: the browser wallet in localStorage. Per chain (genesis
// hash), ballot and voter id: the one-time key's seed, the registrar's
// token, the last seq and the casts, and a salted hash of the voter's
// code. A login's entry (login.js) has no voter id or code: it is kept
// under "login-" and a random local id, with login: true and its
// registrar, since the page never learns who logged in. Saved as a file and opened in another browser to vote again there.
'use strict';

const Wallet = (() => {
  const KEY = 'cocorico-wallet';

  function load() {
    try {
      const w = JSON.parse(localStorage.getItem(KEY));
      if (w && w.version === 1 && w.chains) return w;
    } catch (e) { /* no wallet yet */ }
    return { version: 1, chains: {} };
  }

  function save(w) { localStorage.setItem(KEY, JSON.stringify(w)); }

  function get(chain, ballot, voter) {
    return ((load().chains[chain] || {})[ballot] || {})[voter] || null;
  }

  // entries returns the ballot's entries by their voter id (or local id).
  function entries(chain, ballot) {
    return (load().chains[chain] || {})[ballot] || {};
  }

  function put(chain, ballot, voter, entry) {
    const w = load();
    const c = w.chains[chain] || (w.chains[chain] = {});
    const b = c[ballot] || (c[ballot] = {});
    b[voter] = entry;
    save(w);
  }

  function exportText() { return JSON.stringify(load(), null, 2); }

  // importText merges a saved wallet into this one; for a voter known to
  // both, the entry with the higher seq wins (its seqs are not spent yet).
  function importText(text) {
    const other = JSON.parse(text);
    if (!other || other.version !== 1 || typeof other.chains !== 'object') throw new Error('not a wallet');
    const w = load();
    let n = 0;
    for (const [chain, ballots] of Object.entries(other.chains)) {
      for (const [ballot, voters] of Object.entries(ballots)) {
        for (const [voter, e] of Object.entries(voters)) {
          if (!e || typeof e.seed !== 'string' || typeof e.token !== 'string') continue;
          const c = w.chains[chain] || (w.chains[chain] = {});
          const b = c[ballot] || (c[ballot] = {});
          if (!b[voter] || (b[voter].last_seq || 0) < (e.last_seq || 0)) { b[voter] = e; n++; }
        }
      }
    }
    save(w);
    return n;
  }

  return { get, entries, put, exportText, importText };
})();
