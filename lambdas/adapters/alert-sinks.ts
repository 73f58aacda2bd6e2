/** Where alerts go: an SNS topic (e-mail subscribers) in AWS, the console and a file locally. */
import { appendFileSync } from 'node:fs';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { formatAlert, type Alert, type AlertSink } from '#core/alerts.ts';

export class SnsAlertSink implements AlertSink {
  constructor(
    private readonly sns: SNSClient,
    private readonly topicArn: string,
  ) {}

  async publish(alert: Alert) {
    // SNS e-mail subjects are limited to 100 characters.
    await this.sns.send(
      new PublishCommand({
        TopicArn: this.topicArn,
        Subject: `[api-billing] ${alert.subject}`.slice(0, 100),
        Message: formatAlert(alert),
        // A subscription's filter policy on `severity` routes pages to a pager and the rest to e-mail.
        MessageAttributes: { severity: { DataType: 'String', StringValue: alert.severity ?? 'notify' } },
      }),
    );
  }
}

export class FileAlertSink implements AlertSink {
  constructor(
    private readonly file: string,
    /** Also print each alert (the local stack's terminal is the operator's inbox). */
    private readonly echo = false,
  ) {}

  async publish(alert: Alert) {
    if (this.echo) console.log(`\nALERT [api-billing] ${alert.subject}\n${formatAlert(alert)}\n`);
    appendFileSync(this.file, `${JSON.stringify({ at: new Date().toISOString(), ...alert })}\n`);
  }
}
