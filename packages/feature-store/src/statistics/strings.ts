import { compareCodePoints, HLL_PRECISION, hllEstimate, hllItem } from '@tandem/core';
import { TOP_VALUE_CAPACITY, TOP_VALUES } from './types.js';

/**
 * Distinct count and most frequent values of a stream of strings in constant memory: Misra-Gries
 * counters (at most {@link TOP_VALUE_CAPACITY}) and a HyperLogLog of core's item hashing.
 */
export class StringAccumulator {
  readonly #counters = new Map<string, number>();
  /** Set once the counters overflowed: from then on counts are lower bounds, distinct estimated. */
  #evicted = false;
  /** Highest rank per HyperLogLog register. */
  readonly #registers = new Uint8Array(2 ** HLL_PRECISION);

  /** Adds one value. */
  add(value: string): void {
    const counted = this.#counters.get(value);
    if (counted !== undefined) {
      // Already in the HyperLogLog: a counted value was registered when its counter was made.
      this.#counters.set(value, counted + 1);
      return;
    }
    const item = hllItem(value);
    const register = Math.floor(item / 64);
    this.#registers[register] = Math.max(this.#registers[register]!, item % 64);
    if (this.#counters.size < TOP_VALUE_CAPACITY) {
      this.#counters.set(value, 1);
      return;
    }
    // Misra-Gries: a new value among full counters decrements every counter (and is dropped).
    this.#evicted = true;
    for (const [key, count] of this.#counters) {
      if (count === 1) this.#counters.delete(key);
      else this.#counters.set(key, count - 1);
    }
  }

  /** Distinct values (exact until the counters overflowed) and the most frequent values. */
  summary(): { distinct: number; top: { value: string; count: number }[] } {
    const top = [...this.#counters]
      .sort(([a, x], [b, y]) => y - x || compareCodePoints(a, b))
      .slice(0, TOP_VALUES)
      .map(([value, count]) => ({ value, count }));
    if (!this.#evicted) return { distinct: this.#counters.size, top };
    const sketch: number[] = [];
    this.#registers.forEach((rank, register) => {
      if (rank > 0) sketch.push(register * 64 + rank);
    });
    return { distinct: hllEstimate(sketch, HLL_PRECISION), top };
  }
}
