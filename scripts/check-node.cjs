// Runs before every npm script that starts TypeScript: plain JavaScript that any Node can run, so an old Node
// says what it needs instead of failing with ERR_UNKNOWN_FILE_EXTENSION and a stack trace.
'use strict';
var REQUIRED = 24;
var major = Number(String(process.versions.node).split('.')[0]);
if (!(major >= REQUIRED)) {
  process.stderr.write([
    'Cyber ID needs Node.js ' + REQUIRED + ' or newer; this is Node.js ' + process.versions.node + ' (' + process.execPath + ').',
    'It runs its TypeScript files directly, which Node.js ' + REQUIRED + ' can do and older versions cannot.',
    'To get it:',
    '  - with nvm, fnm or n: run `nvm install` (or `fnm use`, `n auto`) in this folder; .nvmrc and .node-version name version ' + REQUIRED + ';',
    '  - or install Node.js ' + REQUIRED + ' LTS from https://nodejs.org/ or your system\'s packages, and make sure `node --version` prints v' + REQUIRED + ' or newer.',
    '',
  ].join('\n'));
  process.exit(1);
}
