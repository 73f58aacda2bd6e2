/** A customer record for tests that need one without issuing it (core units, store fixtures). */
import type { Customer } from '../../lambdas/core/model.ts';

/** A Pro customer in good standing with a $100 cap, blocked at it; `fields` override any of it. */
export function testCustomer(fields: Partial<Customer> = {}): Customer {
  return {
    customerId: 'c1',
    name: 'Acme',
    tier: 'pro',
    status: 'active',
    capBehaviour: 'block',
    gatewayKeyId: 'g',
    gatewayKeyValue: 'g',
    createdAt: '2026-10-01T00:00:00Z',
    capCents: 10_000,
    ...fields,
  };
}
