/**
 * The Node/V8 options every Sluice process runs with. The single source for the launchers in
 * this repository (bench, integration-test harness, demo); `npm start` and deploy/Dockerfile
 * cannot import it and repeat the text, which node-options.spec.ts keeps in step.
 *
 * `--max-semi-space-size=32`: V8's young generation (two semi-spaces, 16 MB each by default on
 * Node 20) fills every few thousand events on the hot path, and a scavenge copies whatever is
 * still alive then (batches in flight, a lingering partition's events) and promotes it to the old
 * generation after a second survival. Semi-spaces of 32 MB make scavenges rarer, so more of those
 * objects die before one: measured in docs/performance.md ("What was tried", semi-space rows).
 */
export const SLUICE_NODE_OPTIONS = '--max-semi-space-size=32';

/**
 * NODE_OPTIONS for a child Sluice process: the defaults first, then the caller's own (a later
 * V8 flag wins, so a caller can still override, e.g. the bench's `--sluice-env NODE_OPTIONS=...`).
 */
export function sluiceNodeOptions(own: string | undefined): string {
  const extra = own?.trim() ?? '';
  return extra === '' ? SLUICE_NODE_OPTIONS : `${SLUICE_NODE_OPTIONS} ${extra}`;
}
