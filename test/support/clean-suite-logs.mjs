// jest globalSetup: each run of the suite starts with an empty log directory (see test/support/suite-log.ts).
import { rmSync } from 'node:fs';

export default function cleanSuiteLogs() {
  rmSync(new URL('../../test-artifacts/logs/', import.meta.url), { recursive: true, force: true });
}
