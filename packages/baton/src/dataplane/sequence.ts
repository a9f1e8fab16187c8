/**
 * The shared round-robin sequences (native/shared_sequence.c): created in the
 * daemon, mapped in every worker.
 */
import { createRequire } from 'node:module';

interface SharedSequenceAddon {
  create(bytes: number): number;
  map(fd: number, bytes: number): ArrayBuffer;
  next(buffer: ArrayBuffer, slot: number): number;
}

let addon: SharedSequenceAddon | undefined;
function load(): SharedSequenceAddon {
  // From dist/src/dataplane/ to the package's build/Release/.
  addon ??= createRequire(import.meta.url)('../../../build/Release/shared_sequence.node') as SharedSequenceAddon;
  return addon;
}

/** Creates the shared memory; returns its descriptor (close-on-exec; pass it to workers through stdio). */
export function createSharedSequences(bytes: number): number {
  return load().create(bytes);
}

/** Maps the shared memory: a sequence source per slot, and the memory as 32-bit cells for Atomics (connection counts). */
export function mapSharedSequences(fd: number, bytes: number): { sequence: (slot: number) => () => number; cells: Int32Array } {
  const { map, next } = load();
  const buffer = map(fd, bytes);
  return { sequence: (slot: number) => () => next(buffer, slot), cells: new Int32Array(buffer) };
}
