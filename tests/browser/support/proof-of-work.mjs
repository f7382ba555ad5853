// The proof of work a program sends with POST /api/v1/bookings or /wishes
// (services/src/http/proof_of_work.rs): fetches a challenge and finds its
// number as any client would, so tests booking through the API take the
// default path.
import { createHash } from 'node:crypto';

/** `{ 'x-proof-of-work': … }` for one request to `server` (from startServer). */
export async function proofOfWorkHeader(server) {
  const response = await fetch(server.url('/api/v1/challenge'));
  if (response.status === 404) return {}; // the check is off on this server
  const challenge = await response.json();
  for (let number = 0; number <= challenge.maxnumber; number += 1) {
    const hash = createHash('sha256').update(challenge.salt + number).digest('hex');
    if (hash === challenge.challenge) {
      const { algorithm, salt, signature } = challenge;
      const solution = { algorithm, challenge: challenge.challenge, number, salt, signature };
      return { 'x-proof-of-work': Buffer.from(JSON.stringify(solution)).toString('base64') };
    }
  }
  throw new Error('no number solves the challenge');
}
