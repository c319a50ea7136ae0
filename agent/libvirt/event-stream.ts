/**
 * A buffered, async-iterable queue of events. The socket reader pushes and
 * never waits: a slow consumer must not stall replies to other calls. When the
 * buffer is full the oldest events are dropped and counted, so the loss is
 * visible instead of silent.
 */
export class EventStream<T> implements AsyncIterable<T> {
  private readonly buffer: T[] = [];
  private waiter: ((result: IteratorResult<T>) => void) | null = null;
  private ended = false;
  private droppedCount = 0;
  private endReason: Error | null = null;

  constructor(
    private readonly capacity = 10_000,
    private readonly onReturn: () => void = () => {},
  ) {}

  push(event: T): void {
    if (this.ended) return;
    if (this.waiter) {
      const deliver = this.waiter;
      this.waiter = null;
      deliver({ value: event, done: false });
      return;
    }
    if (this.buffer.length >= this.capacity) {
      this.buffer.shift();
      this.droppedCount++;
    }
    this.buffer.push(event);
  }

  /** Ends the stream: buffered events are still delivered, then iteration stops. */
  end(reason?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.endReason = reason ?? null;
    if (this.waiter && this.buffer.length === 0) {
      const deliver = this.waiter;
      this.waiter = null;
      deliver({ value: undefined, done: true });
    }
  }

  /** Why the stream ended, if it ended because the connection did. */
  get reason(): Error | null {
    return this.endReason;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  get dropped(): number {
    return this.droppedCount;
  }

  next(): Promise<IteratorResult<T>> {
    const value = this.buffer.shift();
    if (value !== undefined) return Promise.resolve({ value, done: false });
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    if (this.waiter) return Promise.reject(new Error("EventStream supports one reader at a time"));
    return new Promise((resolve) => { this.waiter = resolve; });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => this.next(),
      return: () => {
        this.onReturn();
        this.end();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
