#!/usr/bin/env node
// `npx cyberid`: plain JavaScript that any Node runs, so an old Node says what it needs (scripts/check-node.cjs)
// instead of failing on the TypeScript with ERR_UNKNOWN_FILE_EXTENSION; then the command itself (bin/cyberid.ts).
'use strict';
// eslint-disable-next-line @typescript-eslint/no-require-imports -- plain CommonJS on purpose: an old Node must read this file
require('../scripts/check-node.cjs');
import('./cyberid.ts');
