/** A seeded generator of uniform doubles in [0, 1) (mulberry32): small, fast, reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** A uniform integer in `[lo, hi]` (both safe integers), with 53 random bits. */
export function uniformInt(random: () => number, lo: number, hi: number): number {
  if (hi <= lo) return lo;
  const unit =
    (Math.floor(random() * 2 ** 21) * 2 ** 32 + Math.floor(random() * 2 ** 32)) / 2 ** 53;
  return Math.min(hi, lo + Math.floor(unit * (hi - lo + 1)));
}
