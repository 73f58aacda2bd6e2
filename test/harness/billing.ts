/** Fresh tables, a local Stripe with a controlled clock, and the billing services wired to both. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { billingServices, type BillingServices } from '../../lambdas/adapters/billing-services.ts';
import { LocalGatewayKeyRegistry } from '../../lambdas/adapters/gateway-keys-local.ts';
import { stripeCatalog } from '../../lambdas/core/catalog.ts';
import { billingConfig, type TierName } from '../../lambdas/core/config.ts';
import type { Alert, AlertSink } from '../../lambdas/core/alerts.ts';
import { createCustomer } from '../../lambdas/core/customers.ts';
import type { Customer } from '../../lambdas/core/model.ts';
import { startLocalStripe, type LocalStripe } from '../../local/stripe/server.ts';
import { freshTables, type TestTables } from './dynamodb.ts';

export interface BillingFixture extends TestTables {
  readonly stripe: LocalStripe;
  readonly services: BillingServices;
  readonly gatewayKeys: LocalGatewayKeyRegistry;
  readonly clock: { now: number };
  /** Alerts published through `alertSink`, oldest first. */
  readonly alerts: Alert[];
  readonly alertSink: AlertSink;
  addCustomer(tier: TierName): Promise<Customer>;
  stop(): Promise<void>;
}

export async function billingFixture(start = Date.UTC(2026, 10, 25, 12, 0)): Promise<BillingFixture> {
  const clock = { now: start };
  const now = () => clock.now;
  const [tables, stripe] = await Promise.all([freshTables(), startLocalStripe({ now })]);
  const services = billingServices({ doc: tables.doc, tables: tables.tables, stripe: stripe.client(), config: billingConfig, now });
  await services.state.putCatalogIds(await services.provider.ensureCatalog(stripeCatalog(billingConfig)));
  const gatewayKeys = new LocalGatewayKeyRegistry(join(mkdtempSync(join(tmpdir(), 'gw-')), 'keys.json'));
  const alerts: Alert[] = [];
  return {
    ...tables,
    alerts,
    alertSink: { publish: async (alert) => void alerts.push(alert) },
    stripe,
    services,
    gatewayKeys,
    clock,
    async addCustomer(tier) {
      const { stripe: setup } = await services.ready();
      return (await createCustomer({ name: `${tier} customer`, tier }, { registry: services.customers, gatewayKeys, now, stripe: setup })).customer;
    },
    stop: () => stripe.stop(),
  };
}

/** Moves both clocks: ours and the local Stripe's. */
export function setTime(f: BillingFixture, epochMs: number): void {
  f.clock.now = epochMs;
  f.stripe.setNow(epochMs);
}
