/**
 * The scheduled billing run, every few minutes: one definition for the sync Lambda and the local
 * stack's timer, so the two cannot drift. Each step is a core function; this only orders them.
 */
import type { Customer } from './model.ts';
import type { GatewayKeyCleanup } from './gateway-keys.ts';
import type { GuardrailEvent } from './guardrails.ts';
import { runSync, type SyncDeps, type SyncReport } from './sync.ts';
import type { Ticket } from './tickets.ts';
import type { GraceOutcome } from './webhooks.ts';
import type { ReconciliationRecord } from './reconciliation.ts';

export interface ScheduledBillingDeps {
  readonly listCustomers: () => Promise<Customer[]>;
  /** Whether an operator paused billing: usage is still counted, nothing is pushed. */
  readonly paused: () => Promise<boolean>;
  readonly sync: SyncDeps;
  /** Cap alerts and blocks, anomaly alerts (each once per month). */
  readonly guard: (customer: Customer) => Promise<GuardrailEvent[]>;
  /** The subscription status policy's clock: behind on payment past the grace means Free. */
  readonly enforceGrace: (customers: readonly Customer[]) => Promise<GraceOutcome[]>;
  /** The billing support SLA: unacknowledged tickets are escalated once. */
  readonly escalateTickets: () => Promise<Ticket[]>;
  /** Gateway keys replaced by tier changes, once no authorizer's cache can still name them. */
  readonly retireGatewayKeys: () => Promise<GatewayKeyCleanup>;
  /** Customer-months whose last reconciliation could not judge a fresh push, reconciled again (before their invoice finalizes). */
  readonly recheckReconciliations: () => Promise<ReconciliationRecord[]>;
}

export interface ScheduledBillingReport {
  readonly paused: boolean;
  readonly sync: SyncReport;
  readonly guardrails: ReadonlyArray<{ readonly customerId: string; readonly event: GuardrailEvent }>;
  readonly graces: readonly GraceOutcome[];
  readonly escalated: readonly Ticket[];
  readonly gatewayKeys: GatewayKeyCleanup;
  readonly rechecked: readonly ReconciliationRecord[];
}

/** One run: push settled usage, then the guardrails on what was pushed, payment grace, tickets, retired keys, reconciliation rechecks. */
export async function runScheduledBilling(deps: ScheduledBillingDeps): Promise<ScheduledBillingReport> {
  const [paused, customers] = await Promise.all([deps.paused(), deps.listCustomers()]);
  const sync = await runSync(customers, deps.sync, { paused });
  const guardrails = [];
  for (const customer of customers) {
    for (const event of await deps.guard(customer)) guardrails.push({ customerId: customer.customerId, event });
  }
  const graces = await deps.enforceGrace(customers);
  const escalated = await deps.escalateTickets();
  const gatewayKeys = await deps.retireGatewayKeys();
  const rechecked = await deps.recheckReconciliations();
  return { paused, sync, guardrails, graces, escalated, gatewayKeys, rechecked };
}
