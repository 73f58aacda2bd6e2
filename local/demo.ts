/** The demo customer `npm start` creates: a Free customer with a realistic month of usage behind it. */
import { createCustomer, type CustomerDeps } from '../lambdas/core/customers.ts';
import type { UsageEventLog } from '../lambdas/core/ports.ts';
import { utcHour, utcMonth } from '../lambdas/core/time.ts';
import type { RunningLocalGateway } from './gateway.ts';

const HOUR = 3_600_000;

/**
 * Calls on working hours of every past day of this month (about 850 by late in the month, so the
 * 80% upgrade prompt shows), written as the authorizer writes them: the stream, the aggregator,
 * the counters and the Stripe sync take them from there, as they would real calls. (No earlier
 * month: its invoice would be closed, and the sync would rightly report the backfill.)
 */
export async function seedDemoCustomer(deps: CustomerDeps, events: UsageEventLog, gateway: RunningLocalGateway, now: number) {
  const { customer, apiKey } = await createCustomer({ name: 'Demo Co', tier: 'free' }, deps);
  const monthStart = Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), 1);
  const daysSoFar = Math.max(1, Math.floor((now - monthStart) / (24 * HOUR)));
  const thisMonthTarget = Math.min(850, 40 * daysSoFar);
  let seeded = 0;
  let written = 0;
  const write = async (at: number) => {
    await events.recordOnce({
      requestId: `demo-${written++}`,
      customerId: customer.customerId,
      keyId: apiKey.keyId,
      method: 'GET',
      route: '/api/{proxy+}',
      at,
      hour: utcHour(at),
      month: utcMonth(at),
      expiresAt: Math.floor(at / 1000) + 40 * 86_400,
    });
  };
  // This month, spread over the days so far, a little more each day.
  for (let day = 0; day < daysSoFar && seeded < thisMonthTarget; day++) {
    const calls = Math.min(thisMonthTarget - seeded, Math.round((thisMonthTarget / daysSoFar) * (0.6 + (0.8 * day) / daysSoFar)));
    await Promise.all(Array.from({ length: calls }, (_, i) => write(monthStart + day * 24 * HOUR + (9 + (i % 9)) * HOUR + (i % 60) * 60_000)));
    seeded += calls;
  }
  gateway.chargeQuota(customer.gatewayKeyId, utcMonth(now), seeded);
  return { customer, apiKey, seededCalls: seeded };
}
