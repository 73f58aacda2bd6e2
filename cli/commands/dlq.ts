/** `dlq replay`: the aggregator's dead-lettered batches read back from the stream and counted, exactly once. */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Command } from 'commander';
import { DynamoGapStore } from '../../lambdas/adapters/counter-gaps.ts';
import { DynamoCounterStore } from '../../lambdas/adapters/counting-store.ts';
import { SqsDeadLetterQueue } from '../../lambdas/adapters/sqs-dead-letters.ts';
import { DynamoStreamRange } from '../../lambdas/adapters/stream-range.ts';
import { createDeadLetterReplayer, type WindowedStreamEvent } from '../../lambdas/aggregator/aggregator.ts';
import { replayDeadLetters, type DeadLetterQueue } from '../../lambdas/core/replay.ts';
import { FileDeadLetterQueue } from '../../local/dead-letters.ts';
import { readLocalState } from '../../local/state.ts';
import { CliError, type CliContext } from '../context.ts';
import { printRows } from '../output.ts';

/** Where the dead letters are and how to read the stream: the local stack's file and DynamoDB Local, or a deployed stack's SQS queue. */
async function deadLetterSource(
  stackName: string | undefined,
  queueUrl: string | undefined,
): Promise<{ queue: DeadLetterQueue; streams: DynamoDBStreamsClient }> {
  if (stackName || queueUrl) {
    let url = queueUrl;
    if (!url) {
      const described = await new CloudFormationClient({}).send(new DescribeStacksCommand({ StackName: stackName })).catch((error: unknown) => {
        throw new CliError(`cannot read stack ${stackName}: ${error instanceof Error ? error.message : String(error)} (check AWS_PROFILE and AWS_REGION)`);
      });
      url = described.Stacks?.[0]?.Outputs?.find((o) => o.OutputKey === 'DeadLetterQueueUrl')?.OutputValue;
      if (!url) throw new CliError(`stack ${stackName} has no output DeadLetterQueueUrl: pass --queue-url`);
    }
    return { queue: new SqsDeadLetterQueue(new SQSClient({}), url), streams: new DynamoDBStreamsClient({}) };
  }
  const state = readLocalState();
  if (!state) throw new CliError('the local stack is not running: start it with `npm start`, or name a deployed stack with --stack');
  return {
    queue: new FileDeadLetterQueue(state.deadLetterFile),
    streams: new DynamoDBStreamsClient({
      endpoint: state.dynamoDbEndpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    }),
  };
}

/** Registers `dlq replay`; `connect` gives the stack's DynamoDB client and table names. */
export function registerDlqCommand(program: Command, connect: () => Promise<Pick<CliContext, 'doc' | 'tables'>>): void {
  program
    .command('dlq')
    .description("the aggregator's dead-letter queue")
    .command('replay')
    .description('read each dead-lettered batch back from the stream (kept 24 hours) and count what was not counted; safe to repeat')
    .option('--queue-url <url>', 'the SQS dead-letter queue (default: the stack output DeadLetterQueueUrl with --stack, the local stack otherwise)')
    .option('--json', 'print JSON')
    .action(async (options: { queueUrl?: string; json?: boolean }) => {
      const context = await connect();
      const { queue, streams } = await deadLetterSource(program.opts<{ stack?: string }>().stack, options.queueUrl);
      const silent = { info: () => undefined, error: () => undefined };
      const counters = context.tables.counters;
      const replay = createDeadLetterReplayer(new DynamoCounterStore(context.doc, counters), new DynamoGapStore(context.doc, counters), silent);
      try {
        const outcomes = await replayDeadLetters(queue, new DynamoStreamRange(streams), (batch) => replay(batch as WindowedStreamEvent));
        printRows(
          outcomes.map((o) => ({ result: o.result, ...(o.result === 'replayed' ? { records: o.records } : { error: o.error }) })),
          Boolean(options.json),
        );
        if (outcomes.some((o) => o.result !== 'replayed')) process.exitCode = 1;
      } finally {
        streams.destroy();
      }
    });
}
