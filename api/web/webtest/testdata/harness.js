// harness.js runs the served WebAssembly voter client under Node.js for
// the Go tests: argv is wasm_exec.js and the gzip-compressed module; each
// stdin line is {"fn": name, "args": [...]}, each stdout line the JSON
// the module's function returned.
'use strict';
const fs = require('fs');
const zlib = require('zlib');
const readline = require('readline');
globalThis.require = require;
globalThis.fs = fs;
globalThis.path = require('path');
globalThis.crypto ??= require('crypto').webcrypto;
require(process.argv[2]);

globalThis.cocoricoReady = () => {
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    let out;
    try {
      const { fn, args } = JSON.parse(line);
      out = globalThis.cocorico[fn](...args);
    } catch (e) {
      out = JSON.stringify({ error: 'harness: ' + e });
    }
    process.stdout.write(out + '\n');
  });
  rl.on('close', () => process.exit(0));
};

const go = new Go();
WebAssembly.instantiate(zlib.gunzipSync(fs.readFileSync(process.argv[3])), go.importObject)
  .then((r) => go.run(r.instance))
  .catch((e) => { console.error(e); process.exit(1); });
