/**
 * Polling for something another process does (a relay delivering, a run taking its lock).
 * @module
 */

/**
 * Polls check every 20 ms until it returns a value other than undefined or false, and returns
 * that value; fails naming `what` after timeoutMs.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
