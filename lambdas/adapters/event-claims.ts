/**
 * One delivery of a Stripe event acts, however many arrive and however concurrently: the event id is
 * claimed with a conditional write (Powertools' idempotency utility on its DynamoDB persistence layer)
 * before anything changes.
 *
 * - A claim held by a delivery still running makes another delivery fail with `in-progress`: Stripe
 *   retries it later, and by then the first has either finished (a replay) or released the claim.
 * - A delivery that throws deletes its claim (the utility does it before rethrowing), so Stripe's
 *   retry can act; one that returns stores its outcome, and later deliveries are answered `duplicate`.
 * - A claim whose Lambda timed out stays only until that invocation's deadline (registerContext).
 *
 * A check-then-mark (read "processed?", act, write "processed") is not enough: two concurrent
 * deliveries both read "no" and both act.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { IdempotencyAlreadyInProgressError, IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import type { Context } from 'aws-lambda';

/** Completed claims outlive Stripe's retries (up to 3 days) with room to spare; the table's TTL then removes them. */
const CLAIM_DAYS = 30;

export type Claimed<T> = { kind: 'acted'; result: T } | { kind: 'duplicate' } | { kind: 'in-progress' };

export interface EventClaims<E extends { id: string }, T> {
  /** Runs the action for this event unless another delivery of the same id has run it or is running it. */
  once(event: E): Promise<Claimed<T>>;
  /** Lets an in-progress claim expire with the invocation that holds it (a timed-out Lambda never releases it). */
  registerContext(context: Context): void;
}

const REPLAYED = '__replayed';

export function dynamoEventClaims<E extends { id: string }, T extends object>(
  act: (event: E) => Promise<T>,
  options: { client: DynamoDBClient; tableName: string /** The webhook Lambda's timeout. */; maxProcessingMs: number },
): EventClaims<E, T> {
  const config = new IdempotencyConfig({
    eventKeyJmesPath: 'id',
    // No key means a bug upstream, not an event to run unguarded.
    throwOnNoIdempotencyKey: true,
    expiresAfterSeconds: CLAIM_DAYS * 86_400,
    // A stored result means an earlier delivery acted: mark it, so this one reports a duplicate.
    responseHook: (response) => ({ [REPLAYED]: true, response }),
  });
  // Off Lambda (the local stack, tests) there is no invocation deadline: an in-progress claim then lasts
  // as long as the webhook Lambda may run, as it would deployed, instead of the whole claim period.
  config.registerLambdaContext({ getRemainingTimeInMillis: () => options.maxProcessingMs } as Context);
  const persistenceStore = new DynamoDBPersistenceLayer({ tableName: options.tableName, awsSdkV3Client: options.client });
  // A fixed prefix rather than the Lambda's name: claims stay valid across renames, and the local stack shares the layout.
  const run = makeIdempotent(act, { persistenceStore, config, keyPrefix: 'stripe-event' });
  return {
    async once(event) {
      try {
        const result = (await run(event)) as T | { [REPLAYED]: true };
        return REPLAYED in result ? { kind: 'duplicate' } : { kind: 'acted', result };
      } catch (error) {
        if (error instanceof IdempotencyAlreadyInProgressError) return { kind: 'in-progress' };
        throw error;
      }
    },
    registerContext: (context) => config.registerLambdaContext(context),
  };
}
