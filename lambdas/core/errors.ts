/** The one error base class: faults and bugs, never expected outcomes (those are values). */
export class ApiBillingError extends Error {
  /** Whether retrying the same operation may succeed (a time-out, a throttle, a conflict). */
  readonly retryable: boolean;

  constructor(message: string, options: { retryable: boolean; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.retryable = options.retryable;
  }
}
