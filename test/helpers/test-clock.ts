/**
 * A clock for plan tests: it runs at real speed from wherever it was last set,
 * so a test can jump to a slot's start (or to a fixed week) and the controller
 * goes on from there. Passed to startController as its `clock`.
 */
export class TestClock {
  private offset = 0;

  now = (): number => Date.now() + this.offset;

  /** From now on the clock reads `ms`, and runs on from there. */
  set(ms: number): void {
    this.offset = ms - Date.now();
  }
}
