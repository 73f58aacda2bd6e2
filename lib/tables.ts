import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';

/**
 * The product's tables. Every one is on-demand, encrypted, point-in-time recoverable and
 * retained when the stack is deleted: they hold what customers are billed for.
 *
 * The local stack and the tests create their tables from the synthesized template, so the
 * key schemas, indexes, stream and TTL defined here are the only definition there is.
 */
export class BillingTables extends Construct {
  /** Customers: tier, status, cap behaviour and the gateway key that places them in a usage plan. */
  readonly customers: dynamodb.Table;
  /** API keys by SHA-256 hash (never the key); index `byCustomer` lists a customer's keys. */
  readonly apiKeys: dynamodb.Table;
  /** One raw event per metered call, keyed by API Gateway's requestId; streamed to the aggregator; expires by TTL. */
  readonly usageEvents: dynamodb.Table;
  /** Counters per customer x hour and x month, per-shard checkpoints and outcome counts. */
  readonly counters: dynamodb.Table;
  /** Billing state: Stripe ids, the sync outbox, alerts sent, audit records. */
  readonly billing: dynamodb.Table;
  /**
   * Claims on Stripe webhook event ids, in the layout Powertools' idempotency utility uses
   * (partition key `id`, TTL `expiration`): two deliveries of one event cannot both act.
   */
  readonly idempotency: dynamodb.Table;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const common = {
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: RemovalPolicy.RETAIN,
      deletionProtection: true,
    } as const;
    const pkSk = {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
    } as const;

    this.customers = new dynamodb.Table(this, 'Customers', {
      ...common,
      partitionKey: { name: 'customerId', type: dynamodb.AttributeType.STRING },
    });

    // Sparse: only subscribed customers have a Stripe id. Stripe's webhooks name customers by it.
    this.customers.addGlobalSecondaryIndex({
      indexName: 'byStripeCustomer',
      partitionKey: { name: 'stripeCustomerId', type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });

    this.apiKeys = new dynamodb.Table(this, 'ApiKeys', {
      ...common,
      partitionKey: { name: 'keyHash', type: dynamodb.AttributeType.STRING },
    });
    this.apiKeys.addGlobalSecondaryIndex({
      indexName: 'byCustomer',
      partitionKey: { name: 'customerId', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'createdAt', type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });

    this.usageEvents = new dynamodb.Table(this, 'UsageEvents', {
      ...common,
      partitionKey: { name: 'requestId', type: dynamodb.AttributeType.STRING },
      // Old and new images: the aggregator sees a void as the transition of `voided`.
      stream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
      timeToLiveAttribute: 'expiresAt',
    });

    this.counters = new dynamodb.Table(this, 'Counters', {
      ...common,
      ...pkSk,
      // Only dedupe markers carry it; counters and checkpoints never expire.
      timeToLiveAttribute: 'expiresAt',
    });

    this.billing = new dynamodb.Table(this, 'Billing', { ...common, ...pkSk, timeToLiveAttribute: 'expiresAt' });

    // Its own table rather than the billing table: the webhook's role gets DeleteItem (a failed
    // event releases its claim) on claims only, never on billing state.
    this.idempotency = new dynamodb.Table(this, 'Idempotency', {
      ...common,
      partitionKey: { name: 'id', type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: 'expiration',
    });
  }
}
