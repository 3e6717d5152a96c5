// embed.js: the "Je vote / I vote" button a movement adds to any page:
//   <script src="https://NODE/embed.js" data-ballot="ID" data-lang="fr" async></script>
// It draws a button in a shadow root (no style leaks in or out) right
// after the tag, or inside the element data-target names, and opens the
// node's voting page in a new window on the node's own origin, where the
// voter's wallet lives. It fetches nothing and sets no cookie.
(() => {
  'use strict';
  const script = document.currentScript;
  if (!script) return;
  const node = new URL(script.src).origin;
  const ballot = script.dataset.ballot || '';
  if (!/^[0-9a-f]{64}$/.test(ballot)) {
    console.warn('cocorico embed.js: data-ballot must be a ballot id (64 hex digits)');
    return;
  }
  const wanted = (script.dataset.lang || navigator.language || 'en').slice(0, 2).toLowerCase();
  const lang = wanted === 'fr' ? 'fr' : 'en';
  const label = script.dataset.label || (lang === 'fr' ? 'Je vote' : 'I vote');
  const hint = lang === 'fr' ? '(s’ouvre dans une nouvelle fenêtre)' : '(opens in a new window)';

  const host = document.createElement('span');
  host.className = 'cocorico-vote';
  const target = script.dataset.target && document.querySelector(script.dataset.target);
  if (target) target.append(host);
  else if (script.parentNode && script.parentNode !== document.head) script.after(host);
  else document.body.append(host);

  const root = host.attachShadow({ mode: 'open' });
  // A constructed style sheet: the embedding page's CSP need not allow
  // inline styles, and none of its styles reach the button.
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(`
:host { all: initial; display: inline-block; }
button { all: initial; box-sizing: border-box; display: inline-flex; align-items: center; gap: .5em;
  min-height: 48px; padding: .6em 1.4em; border-radius: 999px; cursor: pointer;
  background: ${script.dataset.color || '#0b4fa8'}; color: #fff;
  font: 700 1.15rem/1.2 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
button:hover { filter: brightness(1.15); }
button:focus-visible { outline: 3px solid #ffbf47; outline-offset: 3px; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
svg { width: 1.2em; height: 1.2em; fill: currentColor; }`);
  root.adoptedStyleSheets = [sheet];
  const b = document.createElement('button');
  b.type = 'button';
  b.lang = lang;
  // Elements, not innerHTML: pages with Trusted Types still show it.
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  const tick = document.createElementNS(ns, 'path');
  tick.setAttribute('d', 'M9 16.2 4.8 12l-1.4 1.4L9 19 21 7l-1.4-1.4z');
  svg.append(tick);
  b.append(svg);
  const text = document.createElement('span');
  text.textContent = label;
  const sr = document.createElement('span');
  sr.className = 'sr';
  sr.textContent = ' ' + hint;
  b.append(text, sr);
  b.addEventListener('click', () => {
    window.open(node + '/vote/' + ballot + '?lang=' + lang, '_blank', 'noopener');
  });
  root.append(b);
  host.dataset.ready = String(Math.round(performance.now()));
})();
