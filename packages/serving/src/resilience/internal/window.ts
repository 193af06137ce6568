/**
 * A sliding window of the last `size` outcomes (success flag and latency) of one arm of a
 * canary, with error rate and p99 over what it holds.
 */
export class OutcomeWindow {
  readonly #ok: Uint8Array;
  readonly #latency: Float64Array;
  #next = 0;
  #count = 0;
  #errors = 0;

  /** A window of the last `size` outcomes. */
  constructor(readonly size: number) {
    this.#ok = new Uint8Array(size);
    this.#latency = new Float64Array(size);
  }

  /** Adds one outcome, evicting the oldest when full. */
  record(ok: boolean, latencyMs: number): void {
    if (this.#count === this.size) {
      if (this.#ok[this.#next] === 0) this.#errors--;
    } else {
      this.#count++;
    }
    this.#ok[this.#next] = ok ? 1 : 0;
    this.#latency[this.#next] = latencyMs;
    if (!ok) this.#errors++;
    this.#next = (this.#next + 1) % this.size;
  }

  /** Outcomes held. */
  get count(): number {
    return this.#count;
  }

  /** Failed share of the outcomes held (0 when empty). */
  get errorRate(): number {
    return this.#count === 0 ? 0 : this.#errors / this.#count;
  }

  /** The `q` quantile (0..1, nearest rank) of the latencies held; 0 when empty. */
  quantile(q: number): number {
    if (this.#count === 0) return 0;
    const sorted = Float64Array.from(this.#latency.subarray(0, this.#count)).sort();
    const rank = Math.min(this.#count - 1, Math.max(0, Math.ceil(q * this.#count) - 1));
    return sorted[rank]!;
  }

  /** Forgets every outcome. */
  clear(): void {
    this.#next = 0;
    this.#count = 0;
    this.#errors = 0;
  }
}
