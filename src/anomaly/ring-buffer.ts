/**
 * A fixed-capacity FIFO that overwrites its oldest item when full: O(1) push and shift
 * whatever the capacity, where `Array#shift` would copy the whole queue on every drop.
 */
export class RingBuffer<T> {
  private readonly items: (T | undefined)[];
  private head = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError("capacity must be >= 1");
    this.items = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return this.count;
  }

  /** Appends `item`; returns the item pushed out to make room, if any. */
  push(item: T): T | undefined {
    let evicted: T | undefined;
    if (this.count === this.capacity) evicted = this.shift();
    this.items[(this.head + this.count) % this.capacity] = item;
    this.count += 1;
    return evicted;
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.count -= 1;
    return item;
  }
}
