/** The outcome Lambda's logic: a CloudWatch Logs subscription batch of access-log lines -> voids and outcome counts. */
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { CloudWatchLogsDecodedData, CloudWatchLogsEvent } from 'aws-lambda';
import { AccessLogLineSchema, type AccessLogLine } from '#core/gateway-contract.ts';
import { handleAccessLog, type OutcomeResult, type OutcomeStore } from '#core/outcomes.ts';

/** A stable id for a delivered batch: its log events' ids, which CloudWatch Logs keeps on redelivery. */
export function batchIdOf(data: Pick<CloudWatchLogsDecodedData, 'logEvents'>): string {
  return createHash('sha256')
    .update(data.logEvents.map((e) => e.id).join(','))
    .digest('hex')
    .slice(0, 32);
}

export function createOutcomeHandler(store: OutcomeStore, logger: Pick<Logger, 'info' | 'warn'>) {
  return async (event: CloudWatchLogsEvent): Promise<OutcomeResult> => {
    const data = JSON.parse(gunzipSync(Buffer.from(event.awslogs.data, 'base64')).toString('utf8')) as CloudWatchLogsDecodedData;
    const lines: AccessLogLine[] = [];
    for (const logEvent of data.logEvents) {
      let raw: unknown;
      try {
        raw = JSON.parse(logEvent.message);
      } catch {
        raw = undefined;
      }
      const parsed = AccessLogLineSchema.safeParse(raw);
      if (parsed.success) lines.push(parsed.data);
      else logger.warn('access-log line skipped: not in the access-log format', { logEventId: logEvent.id });
    }
    const result = await handleAccessLog(batchIdOf(data), lines, store);
    logger.info('access log processed', { lines: lines.length, ...result });
    return result;
  };
}
