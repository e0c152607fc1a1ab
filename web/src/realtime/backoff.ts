/** Reconnect delays: exponential with "equal jitter" (half fixed, half random), capped. */
export interface BackoffOptions {
  baseMs: number;
  capMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, capMs: 30_000 };

/**
 * Delay before reconnect attempt `attempt` (0 for the first retry). The fixed half keeps a
 * floor so a fleet of clients dropped together does not come back in one burst at ~0 ms;
 * the random half spreads them out.
 */
export function backoffDelay(attempt: number, random: () => number, opts: BackoffOptions = DEFAULT_BACKOFF): number {
  const exp = Math.min(opts.capMs, opts.baseMs * 2 ** Math.max(0, Math.min(attempt, 30)));
  return Math.round(exp / 2 + random() * (exp / 2));
}
