/** The local stack's dead-letter queue: on-failure records, one JSON line each, in a file. */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { DynamoDBRecord } from 'aws-lambda';
import type { DeadLetter, DeadLetterQueue } from '../lambdas/core/replay.ts';

export class FileDeadLetterQueue implements DeadLetterQueue {
  constructor(private readonly file: string) {}

  /** Records a batch given up on, in the shape of Lambda's on-failure record. */
  send(letter: { shardId: string; streamArn: string; records: DynamoDBRecord[] }, error: unknown): void {
    const body: DeadLetter & { error: string; timestamp: string } = {
      DDBStreamBatchInfo: {
        shardId: letter.shardId,
        streamArn: letter.streamArn,
        startSequenceNumber: letter.records[0]?.dynamodb?.SequenceNumber ?? '',
        endSequenceNumber: letter.records.at(-1)?.dynamodb?.SequenceNumber ?? '',
        batchSize: letter.records.length,
      },
      error: error instanceof Error ? error.message : String(error),
      timestamp: new Date().toISOString(),
    };
    appendFileSync(this.file, `${JSON.stringify(body)}\n`);
  }

  async receive() {
    if (!existsSync(this.file)) return [];
    return readFileSync(this.file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((body) => ({ handle: body, body }));
  }

  async remove(handle: string) {
    const rest = (await this.receive()).filter((m) => m.handle !== handle).map((m) => `${m.body}\n`);
    writeFileSync(this.file, rest.join(''));
  }
}
