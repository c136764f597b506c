/**
 * The replication stream's inbox: what arrived from the server (decoded frames, keepalives)
 * and the stream's own events (ticks, the end), in arrival order, taken one at a time by the
 * stream's loop. A ring buffer: `Array.prototype.shift` moved the whole array on every take
 * once it held a few thousand items (≈2% of the source's CPU in catch-up, docs/performance.md).
 * It grows to the deepest the queue has been and never shrinks; the stream bounds that depth by
 * pausing the socket.
 */
export class Inbox<T> {
  /** A power of two long, so positions wrap with a mask. */
  #items: (T | undefined)[] = new Array<T | undefined>(64);
  #head = 0;
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(item: T): void {
    if (this.#length === this.#items.length) this.#grow();
    this.#items[(this.#head + this.#length) & (this.#items.length - 1)] = item;
    this.#length++;
  }

  /** The oldest item, or undefined when there is none. */
  shift(): T | undefined {
    if (this.#length === 0) return undefined;
    const at = this.#head;
    const item = this.#items[at];
    this.#items[at] = undefined; // not kept alive by the ring
    this.#head = (at + 1) & (this.#items.length - 1);
    this.#length--;
    return item;
  }

  #grow(): void {
    const old = this.#items;
    const size = old.length;
    const next = new Array<T | undefined>(size * 2);
    for (let i = 0; i < size; i++) next[i] = old[(this.#head + i) & (size - 1)];
    this.#items = next;
    this.#head = 0;
  }
}
