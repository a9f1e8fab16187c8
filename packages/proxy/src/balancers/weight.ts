/**
 * The one rule every weighted balancer applies to a weight: a server with a
 * weight that is not a positive finite number takes no new clients. Config
 * validation rejects such weights before they get here; this keeps a bad
 * value from turning into NaN credit or an endless loop on the hot path.
 */
export function normalizeWeight(weight: number): number {
  return Number.isFinite(weight) && weight > 0 ? weight : 0;
}
