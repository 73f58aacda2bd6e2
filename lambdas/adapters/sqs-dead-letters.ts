/** The aggregator's dead-letter queue in SQS: the event source mapping's on-failure records. */
import { DeleteMessageCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { DeadLetterQueue } from '#core/replay.ts';

export class SqsDeadLetterQueue implements DeadLetterQueue {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
    /** Enough for a replay to read each range back and count it before another reader sees the message. @default 900 */
    private readonly visibilityTimeoutSeconds = 900,
    /** Messages taken in one replay. @default 1000 */
    private readonly maxMessages = 1000,
  ) {}

  async receive(): Promise<Array<{ handle: string; body: string }>> {
    const messages: Array<{ handle: string; body: string }> = [];
    while (messages.length < this.maxMessages) {
      const page = await this.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: this.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: this.visibilityTimeoutSeconds }),
      );
      if (!page.Messages?.length) break;
      for (const m of page.Messages) if (m.ReceiptHandle && m.Body !== undefined) messages.push({ handle: m.ReceiptHandle, body: m.Body });
    }
    return messages;
  }

  async remove(handle: string): Promise<void> {
    await this.sqs.send(new DeleteMessageCommand({ QueueUrl: this.queueUrl, ReceiptHandle: handle }));
  }
}
