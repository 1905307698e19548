// Cluster tests run real peers in network namespaces: they need root and iproute2. Without them a
// test file fails at once with the reason (never a silent skip: `npm run test:cluster` is asked for).
import { canCreateNamespaces } from './netns.js';

export function requireNamespaces(): void {
  const can = canCreateNamespaces();
  if (!can.ok) throw new Error(`cannot run the cluster tests: ${can.why}`);
}
