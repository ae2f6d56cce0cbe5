// The FaceVerifier port: liveness and a match of the person in front of the camera against the registry
// photo. Captures are passed through and never stored; only the outcome and score are kept.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { AuthorityUnavailableError, postJson, type SimulatedPerson } from './registry.ts';

export interface FaceCheck {
  personId: string;
  /** The camera SDK's capture (frames and liveness data), base64; in simulation a `sim:` descriptor. */
  capture: string;
}

export interface FaceResult {
  passed: boolean;
  /** Similarity to the registry photo, 0–1. */
  score: number;
  live: boolean;
}

export interface FaceVerifier {
  verify(check: FaceCheck): Promise<FaceResult>;
}

/** Scores at or above this count as the same person. */
export const MATCH_THRESHOLD = 0.8;

/** What the simulated camera can be shown: the person themself, someone else, or a printed photo of the person. */
export const SIMULATED_SUBJECTS = ['own_face', 'someone_else', 'printed_photo'] as const;
export type SimulatedSubject = (typeof SIMULATED_SUBJECTS)[number];

/**
 * SIMULATION. A capture is `sim:live:<photo>` or `sim:spoof:<photo>`; the score is derived from a hash
 * so the same capture always gets the same answer: 0.90–0.99 against the person's own photo, 0.05–0.34 otherwise.
 */
export class SimulatedFaceVerifier implements FaceVerifier {
  readonly #photos = new Map<string, string>();

  constructor(people: SimulatedPerson[]) {
    for (const person of people) this.#photos.set(person.personId, person.photo);
  }

  async verify({ personId, capture }: FaceCheck): Promise<FaceResult> {
    const [scheme, liveness, photo] = capture.split(':');
    if (scheme !== 'sim' || !photo) return { passed: false, score: 0, live: false };
    if (liveness !== 'live') return { passed: false, score: 0, live: false };
    const spread = createHash('sha256').update(`${personId}:${photo}`).digest()[0]! / 255;
    const score = photo === this.#photos.get(personId) ? 0.9 + spread * 0.09 : 0.05 + spread * 0.29;
    return { passed: score >= MATCH_THRESHOLD, score: Math.round(score * 1000) / 1000, live: true };
  }

  /** The capture the simulated camera produces for each subject, for the enrolment page's choices. */
  captureOf(personId: string, subject: SimulatedSubject): string {
    const own = this.#photos.get(personId) ?? 'unknown';
    if (subject === 'printed_photo') return `sim:spoof:${own}`;
    if (subject === 'someone_else') return `sim:live:${own === 'photo-0000' ? 'photo-0001' : 'photo-0000'}`;
    return `sim:live:${own}`;
  }
}

const resultSchema = z.object({ live: z.boolean(), score: z.number().min(0).max(1) });

/** The authority's service: POST {url}/verify {person_id, capture} answered with {live, score}. */
export class HttpFaceVerifier implements FaceVerifier {
  readonly #url: URL;

  constructor(url: string) {
    this.#url = new URL('verify', url.endsWith('/') ? url : `${url}/`);
  }

  async verify({ personId, capture }: FaceCheck): Promise<FaceResult> {
    const result = resultSchema.safeParse(await postJson(this.#url, { person_id: personId, capture }));
    if (!result.success) throw new AuthorityUnavailableError('the face verifier answered in an unexpected form');
    const { live, score } = result.data;
    return { passed: live && score >= MATCH_THRESHOLD, score, live };
  }
}
