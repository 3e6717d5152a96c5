// embed.js: the "Je vote / I vote" button a movement adds to any page:
//   <script src="https://NODE/embed.js" data-ballot="ID" data-lang="fr" async></script>
// It draws a button in a shadow root (no style leaks in or out) right
// after the tag (at the end of <body> for a tag in <head>), or inside the
// element data-target names, and opens the node's voting page in a new
// window on the node's own origin, where the voter's wallet lives. It fetches nothing and sets no cookie. A mistake
// in the tag is said in the browser console, naming the attribute
// (docs/EMBED.md): the person who pasted it has nowhere else to look.
(() => {
  'use strict';
  const script = document.currentScript;
  if (!script) return;
  const say = 'cocorico embed.js: ';
  const node = new URL(script.src).origin;
  // The node's addresses take the id in lowercase; one pasted in capitals
  // is the same id.
  const given = script.dataset.ballot || '';
  const ballot = given.trim().toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(ballot)) {
    console.error(say + 'data-ballot="' + given + '" is not a ballot id: expected 64 hexadecimal characters ' +
      '(0-9 and a-f), as at the end of the ballot page\'s address (' + node + '/ballots/<id>); no button drawn');
    return;
  }
  // Without data-lang: the embedding page's language (<html lang>), then
  // the visitor's browser's: a French site's button says "Je vote".
  const wanted = (script.dataset.lang || document.documentElement.lang || navigator.language || 'en').slice(0, 2).toLowerCase();
  const lang = wanted === 'fr' ? 'fr' : 'en';
  const label = script.dataset.label || (lang === 'fr' ? 'Je vote' : 'I vote');
  const hint = lang === 'fr' ? '(s’ouvre dans une nouvelle fenêtre)' : '(opens in a new window)';
  let color = script.dataset.color || '#0b4fa8';
  if (!CSS.supports('background-color', color)) {
    console.error(say + 'data-color="' + color + '" is not a CSS colour; the button keeps its blue (#0b4fa8)');
    color = '#0b4fa8';
  }
  const selector = script.dataset.target || '';

  // place puts the button's host inside data-target's element; else right
  // after the tag; else (a tag in <head>) at the end of <body>. While the
  // page is still being read it waits for the rest when the target is not
  // there yet or the tag has no <body> to go after.
  const place = () => {
    const inBody = !!document.body && document.body.contains(script);
    let target = null;
    let invalid = '';
    if (selector) {
      try {
        target = document.querySelector(selector);
      } catch (e) {
        invalid = e.message; // a SyntaxError: the button still goes in the page
      }
    }
    const unmatched = selector && !target && !invalid;
    if (document.readyState === 'loading' && !target && (unmatched || !inBody)) {
      document.addEventListener('DOMContentLoaded', place, { once: true });
      return;
    }
    const host = document.createElement('span');
    host.className = 'cocorico-vote';
    if (target) target.append(host);
    else if (inBody) script.after(host);
    else document.body.append(host);
    const where = '; the button is drawn ' + (inBody ? 'right after the script tag' : 'at the end of the page (the tag is not in <body>)') + ' instead';
    if (invalid) console.error(say + 'data-target="' + selector + '" is not a valid CSS selector (' + invalid + ')' + where);
    else if (unmatched) console.warn(say + 'data-target="' + selector + '" matches no element of the page' + where);
    draw(host);
  };

  // draw builds the button in host's shadow root.
  const draw = (host) => {
    const root = host.attachShadow({ mode: 'open' });
    // A constructed style sheet: the embedding page's CSP need not allow
    // inline styles, and none of its styles reach the button.
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(`
:host { all: initial; display: inline-block; max-width: 100%; }
button { all: initial; box-sizing: border-box; display: inline-flex; align-items: center; gap: .5em; max-width: 100%;
  min-height: 48px; padding: .6em 1.4em; border-radius: 999px; cursor: pointer;
  background: ${color}; color: #fff;
  font: 700 1.15rem/1.2 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
button.on-light { color: #000; }
button:hover { filter: brightness(1.15); }
button:focus-visible { outline: 3px solid #ffbf47; outline-offset: 3px; }
.label { min-width: 0; overflow-wrap: anywhere; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
svg { flex-shrink: 0; width: 1.2em; height: 1.2em; fill: currentColor; }`);
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
    text.className = 'label';
    text.textContent = label;
    const sr = document.createElement('span');
    sr.className = 'sr';
    sr.textContent = ' ' + hint;
    b.append(text, sr);
    b.addEventListener('click', () => {
      window.open(node + '/vote/' + ballot + '?lang=' + lang, '_blank', 'noopener');
    });
    root.append(b);
    if (onLight(getComputedStyle(b).backgroundColor)) b.classList.add('on-light');
    host.dataset.ready = String(Math.round(performance.now()));
  };

  // onLight tells whether black text reads better than white on the
  // computed background colour: contrast ratios by WCAG 2.2's relative
  // luminance (sRGB). The browser gives hex, named, rgb() and hsl()
  // colours as rgb(r, g, b); any other form, or a translucent colour
  // (the page shows through), keeps white.
  const onLight = (computed) => {
    const m = /^rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)$/.exec(computed);
    if (!m || (m[4] !== undefined && Number(m[4]) < 1)) return false;
    const lin = (v) => {
      const c = Number(v) / 255;
      return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    };
    const l = 0.2126 * lin(m[1]) + 0.7152 * lin(m[2]) + 0.0722 * lin(m[3]);
    return (l + 0.05) / 0.05 > 1.05 / (l + 0.05); // contrast with black > with white
  };

  place();
})();
