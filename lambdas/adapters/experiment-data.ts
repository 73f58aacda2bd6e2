/**
 * The experiment's figures from the product's tables: customers, the hour and outcome counters
 * (per customer, a Query each), the invoices the webhooks recorded, tickets, survey answers and the
 * reconciliation's records. One pass per report: a daily job, not a hot path.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { CustomerDay, ExperimentData } from '#core/experiment.ts';
import type { ErrorRate } from '#core/reconciliation.ts';
import type { Ticket } from '#core/tickets.ts';
import { utcHour } from '#core/time.ts';
import type { Customer } from '#core/model.ts';
import { queryAll } from './dynamodb.ts';

export function dynamoExperimentData(options: {
  doc: DynamoDBDocumentClient;
  tables: { readonly counters: string; readonly billing: string };
  customers: () => Promise<Customer[]>;
  tickets: () => Promise<Ticket[]>;
  feedback: ExperimentData['feedback'];
  billingErrorRate: (fromMonth: string) => Promise<ErrorRate>;
}): ExperimentData {
  const { doc, tables } = options;
  const between = (customerId: string, prefix: string, from: string, to: string) =>
    queryAll(doc, {
      TableName: tables.counters,
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
      ExpressionAttributeValues: { ':pk': `CUSTOMER#${customerId}`, ':from': `${prefix}${from}`, ':to': `${prefix}${to}` },
    });
  return {
    customers: options.customers,
    async days(fromMs, toMs) {
      const [fromHour, toHour] = [utcHour(fromMs), utcHour(toMs)];
      const days: CustomerDay[] = [];
      for (const customer of await options.customers()) {
        const byDay = new Map<string, { billable: number; s2xx: number; s4xx: number; s5xx: number }>();
        const add = (hour: string, field: 'billable' | 's2xx' | 's4xx' | 's5xx', n: number) => {
          if (hour < fromHour || hour > toHour) return;
          const day = byDay.get(hour.slice(0, 10)) ?? { billable: 0, s2xx: 0, s4xx: 0, s5xx: 0 };
          day[field] += n;
          byDay.set(hour.slice(0, 10), day);
        };
        const [hours, outcomes] = await Promise.all([
          between(customer.customerId, 'HOUR#', fromHour, toHour),
          between(customer.customerId, 'OUTCOME#', fromHour, toHour),
        ]);
        for (const item of hours) add(String(item.sk).slice('HOUR#'.length), 'billable', Number(item.billable ?? 0));
        for (const item of outcomes) {
          const hour = String(item.sk).slice('OUTCOME#'.length);
          add(hour, 's2xx', Number(item.s2xx ?? 0));
          add(hour, 's4xx', Number(item.s4xx ?? 0));
          add(hour, 's5xx', Number(item.s5xx ?? 0));
        }
        for (const [day, v] of byDay) days.push({ customerId: customer.customerId, day, ...v });
      }
      return days;
    },
    async paidInvoices(fromMs, toMs) {
      const paid: Array<{ customerId: string; paidCents: number; at: number }> = [];
      for (const customer of await options.customers()) {
        const items = await queryAll(doc, {
          TableName: tables.billing,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': `CUSTOMER#${customer.customerId}`, ':prefix': 'INVOICE#' },
        });
        for (const item of items) {
          const at = Date.parse(String(item.at));
          if (item.status === 'paid' && at >= fromMs && at < toMs)
            paid.push({ customerId: customer.customerId, paidCents: Number(item.amountPaidCents ?? 0), at });
        }
      }
      return paid;
    },
    tickets: options.tickets,
    feedback: options.feedback,
    billingErrorRate: options.billingErrorRate,
  };
}
