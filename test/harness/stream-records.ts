/** Stream records as Lambda delivers them from the usage events table, for aggregator tests. */
import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import type { UsageEvent } from '../../lambdas/core/model.ts';

export function usageEvent(requestId: string, customerId: string, hour = '2026-11-25T06'): UsageEvent {
  return {
    requestId,
    customerId,
    keyId: 'key_1',
    method: 'GET',
    route: '/api/{proxy+}',
    at: Date.parse(`${hour}:00:00Z`),
    hour,
    month: hour.slice(0, 7),
    expiresAt: 0,
  };
}

const image = (event: UsageEvent) => marshall(event, { removeUndefinedValues: true }) as NonNullable<DynamoDBRecord['dynamodb']>['NewImage'];

export function insertRecord(sequenceNumber: number, event: UsageEvent): DynamoDBRecord {
  return {
    eventID: `e${sequenceNumber}`,
    eventName: 'INSERT',
    eventSourceARN: 'arn:aws:dynamodb:local:0:table/events/stream/x',
    dynamodb: { SequenceNumber: String(sequenceNumber), NewImage: image(event) },
  };
}

export function voidRecord(sequenceNumber: number, event: UsageEvent, reason: UsageEvent['voidReason'] = 'THROTTLED'): DynamoDBRecord {
  return {
    eventID: `e${sequenceNumber}`,
    eventName: 'MODIFY',
    eventSourceARN: 'arn:aws:dynamodb:local:0:table/events/stream/x',
    dynamodb: { SequenceNumber: String(sequenceNumber), OldImage: image(event), NewImage: image({ ...event, voided: true, voidReason: reason }) },
  };
}

export function removeRecord(sequenceNumber: number, event: UsageEvent): DynamoDBRecord {
  return {
    eventID: `e${sequenceNumber}`,
    eventName: 'REMOVE',
    eventSourceARN: 'arn:aws:dynamodb:local:0:table/events/stream/x',
    dynamodb: { SequenceNumber: String(sequenceNumber), OldImage: image(event) },
  };
}
