#!/usr/bin/env node
// The operators' command line (server/admin/cli.ts): `npx cyberid --help`.
import { runCli } from '../server/admin/cli.ts';

process.exitCode = await runCli(process.argv.slice(2));
