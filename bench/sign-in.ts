// The full interactive sign-in, as people do it: authorize → password → one-time code (by SMS) → consent →
// the platform redeems the code. Its ceiling on any machine is the password check: argon2id is made to be slow
// (server/identity/passwords.ts), so the bound is how many argon2 verifications the machine does per second.
import { hashPassword, verifyPassword } from '../server/identity/passwords.ts';
import { FormBrowser } from '../test/support/browser.ts';
import { PlatformSession, type Sample } from './load.ts';
import type { SmsSink, Target } from './targets.ts';
import { PASSWORD, type BenchPerson } from './workspace.ts';

/** argon2 verifications per second at `concurrency`, with the same parameters as the server, in this process. */
export async function argon2Bound(seconds: number, concurrency: number): Promise<Sample> {
  const hash = await hashPassword(PASSWORD);
  return loop(seconds, concurrency, async () => {
    if (!await verifyPassword(hash, PASSWORD)) throw new Error('argon2 verification failed');
  });
}

/** Complete sign-ins per second at `concurrency`, each by the next person of `people` (one SMS each: see MAX_SENDS_PER_HOUR). */
export async function signInLoad(target: Target, people: BenchPerson[], sms: SmsSink, seconds: number, concurrency: number): Promise<Sample> {
  let next = 0;
  return loop(seconds, concurrency, async () => {
    const person = people[next++];
    if (!person) throw new Error('ran out of bench people; enrol more');
    const session = PlatformSession.forBrowser(target, new FormBrowser(target.url));
    const code = await session.authorize('openid verified age', {
      identifier: person.networkNumber, password: PASSWORD, oneTimeCode: () => sms.take(person.phone),
    });
    await session.redeem(code);
  });
}

async function loop(seconds: number, concurrency: number, task: () => Promise<void>): Promise<Sample> {
  const latencies: number[] = [];
  let failed = 0;
  let firstFailure: string | undefined;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < deadline) {
      const begun = performance.now();
      try {
        await task();
        latencies.push(performance.now() - begun);
      } catch (error) {
        failed += 1;
        firstFailure ??= (error as Error).message.slice(0, 300);
      }
    }
  }));
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
  return { rps: latencies.length / elapsed, p50: at(0.5), p99: at(0.99), ok: latencies.length, failed, ...(firstFailure ? { firstFailure } : {}) };
}
