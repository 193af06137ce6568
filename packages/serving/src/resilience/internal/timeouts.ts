/**
 * Something that expires at an epoch-ms time unless it is removed first (a request deadline, a
 * store call's timeout). It is its own list node: adding and removing one allocates nothing.
 */
export abstract class TimeoutEntry {
  /** @internal */ expiresAt = 0;
  /** @internal */ prev: TimeoutEntry | undefined;
  /** @internal */ next: TimeoutEntry | undefined;
  /** @internal */ listed = false;

  /** Called once when its time has come (it has been removed from the list). */
  abstract expire(): void;
}

/**
 * One timer for many timeouts, in place of a `setTimeout` per request: the entries wait in a
 * list sorted by time, and the timer is armed for the earliest. Removing an entry (the work
 * finished in time) only unlinks it; the timer, if it was armed for that entry, fires later,
 * finds nothing due and re-arms for the new earliest entry. Meant for timeouts of one length
 * (one list per length): each entry then goes at the tail and expires after the ones before it,
 * so the timer is set about once per length of time, not once per entry. The timer does not
 * keep the process alive.
 */
export class TimeoutList {
  #head: TimeoutEntry | undefined;
  #tail: TimeoutEntry | undefined;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  readonly #onTimer = () => {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    this.#expireDue();
  };

  /** Adds `entry` (not already listed) to expire at `at` (epoch ms). */
  add(entry: TimeoutEntry, at: number): void {
    entry.expiresAt = at;
    entry.listed = true;
    let after = this.#tail;
    while (after !== undefined && after.expiresAt > at) after = after.prev;
    entry.prev = after;
    entry.next = after === undefined ? this.#head : after.next;
    if (entry.next === undefined) this.#tail = entry;
    else entry.next.prev = entry;
    if (after === undefined) this.#head = entry;
    else after.next = entry;
    if (at < this.#timerAt) this.#arm(at);
  }

  /** Removes `entry` if it is listed (it will not expire). */
  remove(entry: TimeoutEntry): void {
    if (!entry.listed) return;
    entry.listed = false;
    const { prev, next } = entry;
    if (prev === undefined) this.#head = next;
    else prev.next = next;
    if (next === undefined) this.#tail = prev;
    else next.prev = prev;
    entry.prev = undefined;
    entry.next = undefined;
  }

  #expireDue(): void {
    const now = Date.now();
    let head = this.#head;
    while (head !== undefined && head.expiresAt <= now) {
      this.remove(head);
      try {
        head.expire();
      } catch {
        // One entry's failure must not keep the others from expiring.
      }
      head = this.#head;
    }
    if (head !== undefined) this.#arm(head.expiresAt);
  }

  #arm(at: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAt = at;
    // Timers and Date.now may disagree by a millisecond: an early wake-up re-arms.
    this.#timer = setTimeout(this.#onTimer, Math.max(1, at - Date.now()));
    this.#timer.unref?.();
  }
}
