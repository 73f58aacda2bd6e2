import { gzipSync } from 'node:zlib';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { CloudWatchLogsEvent } from 'aws-lambda';
import { DynamoOutcomeStore } from '../../lambdas/adapters/outcome-store.ts';
import { createOutcomeHandler } from '../../lambdas/outcome/outcome.ts';
import { freshTables, type TestTables } from '../harness/dynamodb.ts';
import { usageEvent } from '../harness/stream-records.ts';

const silent = { info: () => undefined, warn: () => undefined };

function subscriptionEvent(lines: Array<Record<string, string>>, idPrefix = 'log'): CloudWatchLogsEvent {
  const data = {
    messageType: 'DATA_MESSAGE',
    owner: '123456789012',
    logGroup: 'api-access',
    logStream: 's',
    subscriptionFilters: ['f'],
    logEvents: lines.map((line, i) => ({ id: `${idPrefix}-${i}`, timestamp: 0, message: JSON.stringify(line) })),
  };
  return { awslogs: { data: gzipSync(JSON.stringify(data)).toString('base64') } };
}

const line = (requestId: string, status: number, responseType = '-', customerId = 'c1') => ({
  requestId,
  requestTimeEpoch: String(Date.UTC(2026, 10, 25, 6, 5)),
  httpMethod: 'GET',
  resourcePath: '/api/{proxy+}',
  status: String(status),
  responseType,
  customerId,
  latencyMs: '3',
});

describe('outcome path (against DynamoDB Local)', () => {
  let t: TestTables;
  let handle: ReturnType<typeof createOutcomeHandler>;
  beforeEach(async () => {
    t = await freshTables();
    handle = createOutcomeHandler(new DynamoOutcomeStore(t.doc, t.tables), silent);
    for (const id of ['ok', 'throttled', 'quota', 'broken']) await t.doc.send(new PutCommand({ TableName: t.tables.usageEvents, Item: usageEvent(id, 'c1') }));
  });

  const eventOf = async (requestId: string) =>
    (await t.doc.send(new GetCommand({ TableName: t.tables.usageEvents, Key: { requestId }, ConsistentRead: true }))).Item;
  const outcomes = async () =>
    (await t.doc.send(new GetCommand({ TableName: t.tables.counters, Key: { pk: 'CUSTOMER#c1', sk: 'OUTCOME#2026-11-25T06' }, ConsistentRead: true }))).Item;

  it('voids throttled, over-quota and 5xx calls once, counts outcomes once, even when the batch is delivered twice', async () => {
    const batch = subscriptionEvent([
      line('ok', 200),
      line('throttled', 429, 'THROTTLED'),
      line('quota', 429, 'QUOTA_EXCEEDED'),
      line('broken', 502),
      line('denied', 403, 'ACCESS_DENIED', '-'),
    ]);
    expect(await handle(batch)).toEqual({ voided: 3, counted: 'added' });
    expect(await handle(batch)).toEqual({ voided: 0, counted: 'duplicate' });
    expect(await eventOf('ok')).not.toHaveProperty('voided');
    expect(await eventOf('throttled')).toMatchObject({ voided: true, voidReason: 'THROTTLED' });
    expect(await eventOf('quota')).toMatchObject({ voided: true, voidReason: 'QUOTA_EXCEEDED' });
    expect(await eventOf('broken')).toMatchObject({ voided: true, voidReason: 'SERVER_ERROR' });
    expect(await outcomes()).toMatchObject({ s2xx: 1, s4xx: 2, s5xx: 1 });
  });

  it('changes nothing for a call the authorizer denied (no event) and skips lines in another format', async () => {
    const batch = subscriptionEvent([line('never-metered', 500, '-', 'c1')]);
    const garbage: CloudWatchLogsEvent = {
      awslogs: { data: gzipSync(JSON.stringify({ logEvents: [{ id: 'z', timestamp: 0, message: 'not json' }] })).toString('base64') },
    };
    expect(await handle(batch)).toMatchObject({ voided: 0 });
    expect(await eventOf('never-metered')).toBeUndefined();
    expect(await handle(garbage)).toMatchObject({ voided: 0 });
  });
});
