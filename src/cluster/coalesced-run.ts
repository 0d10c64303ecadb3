/**
 * Runs an async task one at a time: a request while it runs asks for exactly one more run after
 * it, so a burst of requests (timer ticks, membership events) costs at most two runs. Requests
 * while `enabled()` is false are dropped, including the follow-up run.
 */
export class CoalescedRun {
  private running: Promise<void> | undefined;
  private again = false;

  constructor(
    private readonly task: () => Promise<void>,
    private readonly onError: (err: unknown) => void,
    private readonly enabled: () => boolean,
  ) {}

  /** The run in flight, if any; it never rejects. */
  get current(): Promise<void> | undefined {
    return this.running;
  }

  request(): void {
    if (!this.enabled()) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.task()
      .catch(this.onError)
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.request();
        }
      });
  }
}
