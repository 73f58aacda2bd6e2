/**
 * The adapters that only talk to AWS (no local stand-in serves them): the exact requests they
 * send, checked with aws-sdk-client-mock, and secrets kept out of every log and error message.
 */
import { DeleteMessageCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { SqsDeadLetterQueue } from '../../lambdas/adapters/sqs-dead-letters.ts';
import { SnsAlertSink } from '../../lambdas/adapters/alert-sinks.ts';
import { loadCheckoutKey, loadStripeSecrets } from '../../lambdas/adapters/stripe-secrets.ts';
import { formatAlert } from '../../lambdas/core/alerts.ts';

const QUEUE = 'https://sqs.us-east-1.amazonaws.com/123456789012/aggregator-dlq';
const TOPIC = 'arn:aws:sns:us-east-1:123456789012:api-billing-alerts';

const messages = (from: number, count: number) => Array.from({ length: count }, (_, i) => ({ ReceiptHandle: `h${from + i}`, Body: `{"n":${from + i}}` }));

describe('SQS dead-letter queue adapter', () => {
  const sqs = mockClient(SQSClient);
  beforeEach(() => sqs.reset());

  it('receives page by page with a long visibility timeout until the queue answers empty, then deletes by receipt handle', async () => {
    sqs
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: messages(0, 10) })
      .resolvesOnce({ Messages: [...messages(10, 2), { MessageId: 'no-handle', Body: '{}' }] })
      .resolves({});
    sqs.on(DeleteMessageCommand).resolves({});
    const queue = new SqsDeadLetterQueue(new SQSClient({ region: 'us-east-1' }), QUEUE);

    const received = await queue.receive();
    expect(received).toEqual(messages(0, 12).map((m) => ({ handle: m.ReceiptHandle, body: m.Body })));
    const receives = sqs.commandCalls(ReceiveMessageCommand).map((c) => c.args[0].input);
    expect(receives).toEqual(Array(3).fill({ QueueUrl: QUEUE, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 900 }));

    await queue.remove('h7');
    expect(sqs.commandCalls(DeleteMessageCommand).map((c) => c.args[0].input)).toEqual([{ QueueUrl: QUEUE, ReceiptHandle: 'h7' }]);
  });

  it('stops receiving once it holds as many messages as one replay takes', async () => {
    sqs.on(ReceiveMessageCommand).callsFake(() => ({ Messages: messages(0, 10) }));
    const queue = new SqsDeadLetterQueue(new SQSClient({ region: 'us-east-1' }), QUEUE, 60, 20);
    expect(await queue.receive()).toHaveLength(20);
    expect(sqs.commandCalls(ReceiveMessageCommand).map((c) => c.args[0].input)).toEqual(
      Array(2).fill({ QueueUrl: QUEUE, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 60 }),
    );
  });
});

describe('SNS alert sink', () => {
  const sns = mockClient(SNSClient);
  beforeEach(() => sns.reset());

  it('publishes one message to the topic with the prefixed subject and the e-mail text', async () => {
    sns.on(PublishCommand).resolves({ MessageId: 'm1' });
    const alert = {
      subject: 'Acme reached 80% of its billing cap',
      customerId: 'cust_1',
      body: 'Acme has $80.00 billed.',
      action: 'npm run cli -- cap approve --customer cust_1 --cap <dollars> --reason "<why>"',
    };
    await new SnsAlertSink(new SNSClient({ region: 'us-east-1' }), TOPIC).publish(alert);
    expect(sns.commandCalls(PublishCommand).map((c) => c.args[0].input)).toEqual([
      {
        TopicArn: TOPIC,
        Subject: '[api-billing] Acme reached 80% of its billing cap',
        Message: formatAlert(alert),
        MessageAttributes: { severity: { DataType: 'String', StringValue: 'notify' } },
      },
    ]);
    expect(formatAlert(alert)).toBe(
      'Acme has $80.00 billed.\n\nAct on it: npm run cli -- cap approve --customer cust_1 --cap <dollars> --reason "<why>"\nCustomer: cust_1',
    );
  });

  it('marks a page with the severity attribute a pager subscription filters on', async () => {
    sns.on(PublishCommand).resolves({ MessageId: 'm2' });
    await new SnsAlertSink(new SNSClient({ region: 'us-east-1' }), TOPIC).publish({ subject: 'PAGE: x', body: 'b', action: 'a', severity: 'page' });
    expect(sns.commandCalls(PublishCommand)[0]!.args[0].input.MessageAttributes).toEqual({ severity: { DataType: 'String', StringValue: 'page' } });
  });

  it("cuts the subject to SNS e-mail's 100 characters, keeping the whole body", async () => {
    sns.on(PublishCommand).resolves({});
    const alert = { subject: `A customer with a very long name ${'x'.repeat(120)} reached 100% of its billing cap`, body: 'body', action: 'act' };
    await new SnsAlertSink(new SNSClient({ region: 'us-east-1' }), TOPIC).publish(alert);
    const input = sns.commandCalls(PublishCommand)[0]!.args[0].input;
    expect(input.Subject).toHaveLength(100);
    expect(input.Subject).toBe(`[api-billing] ${alert.subject}`.slice(0, 100));
    expect(input.Message).toBe('body\n\nAct on it: act');
  });
});

describe('Stripe secrets loader', () => {
  const secrets = mockClient(SecretsManagerClient);
  const SECRET_KEY = 'sk_live_4eC39HqLyjWDarjtT1zdp7dcQ9vXb2';
  const WEBHOOK_SECRET = 'whsec_5f1b2c3d4eZk8PqW7yR';
  let output: string[];
  let spies: jest.SpyInstance[];
  beforeEach(() => {
    secrets.reset();
    output = [];
    const capture = (...args: unknown[]) => void output.push(args.map(String).join(' '));
    spies = [
      ...(['log', 'info', 'warn', 'error', 'debug'] as const).map((level) => jest.spyOn(console, level).mockImplementation(capture)),
      ...[process.stdout, process.stderr].map((stream) =>
        jest.spyOn(stream, 'write').mockImplementation((chunk) => {
          capture(chunk);
          return true;
        }),
      ),
    ];
  });
  afterEach(() => {
    for (const spy of spies) spy.mockRestore();
  });

  /** Any 4 characters of either secret past its public prefix, found in the text. */
  const leaked = (text: string) =>
    [SECRET_KEY.slice('sk_live_'.length), WEBHOOK_SECRET.slice('whsec_'.length)].flatMap((secret) =>
      Array.from({ length: secret.length - 3 }, (_, i) => secret.slice(i, i + 4)).filter((piece) => text.includes(piece)),
    );

  // Powertools caches each secret by name for 5 minutes: every test reads its own ARN.
  const arn = (name: string) => `arn:aws:secretsmanager:us-east-1:123456789012:secret:${name}`;

  it('reads the JSON secret named by STRIPE_SECRET_ARN with one GetSecretValue, cached for the next cold path', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ secretKey: SECRET_KEY, webhookSecret: WEBHOOK_SECRET }) });
    const env = { STRIPE_SECRET_ARN: arn('stripe-ok'), STRIPE_SECRET_KEY: 'sk_test_ignored', STRIPE_WEBHOOK_SECRET: 'whsec_ignored' };
    expect(await loadStripeSecrets(env)).toEqual({ secretKey: SECRET_KEY, webhookSecret: WEBHOOK_SECRET });
    expect(await loadStripeSecrets(env)).toEqual({ secretKey: SECRET_KEY, webhookSecret: WEBHOOK_SECRET });
    expect(secrets.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input)).toEqual([{ SecretId: arn('stripe-ok') }]);
    expect(leaked(output.join('\n'))).toEqual([]);
  });

  it.each([
    ['a JSON secret of the wrong shape', JSON.stringify({ secretKey: SECRET_KEY })],
    ['a JSON secret whose key is not a secret key', JSON.stringify({ secretKey: `pk_${SECRET_KEY}`, webhookSecret: WEBHOOK_SECRET })],
    ['the bare key instead of JSON', SECRET_KEY],
    ['the key with a typo in the JSON around it', `{ "secretKey": "${SECRET_KEY}", webhookSecret: "${WEBHOOK_SECRET}" }`],
  ])('refuses %s with a message that names the expected shape and never the secret', async (name, secretString) => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: secretString });
    const error = await loadStripeSecrets({ STRIPE_SECRET_ARN: arn(`stripe-bad-${name.replace(/\W+/g, '-')}`) }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(Error);
    expect(error!.message).toContain('{ "secretKey": "sk_… or rk_…", "webhookSecret": "whsec_…" }');
    expect(leaked(`${error!.message}\n${error!.stack}\n${String((error as { cause?: unknown }).cause ?? '')}`)).toEqual([]);
    expect(leaked(output.join('\n'))).toEqual([]);
  });

  it('passes a Secrets Manager failure on (naming no secret) without a request when the environment holds the keys', async () => {
    secrets.on(GetSecretValueCommand).rejects(new Error('AccessDeniedException: not allowed'));
    await expect(loadStripeSecrets({ STRIPE_SECRET_ARN: arn('stripe-denied') })).rejects.toThrow('not allowed');

    secrets.reset();
    expect(await loadStripeSecrets({ STRIPE_SECRET_KEY: SECRET_KEY, STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET })).toEqual({
      secretKey: SECRET_KEY,
      webhookSecret: WEBHOOK_SECRET,
    });
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(0);
    const missing = await loadStripeSecrets({ STRIPE_SECRET_KEY: `x${SECRET_KEY}`, STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET }).catch((e: unknown) => e as Error);
    expect((missing as Error).message).toBe('set STRIPE_SECRET_ARN, or STRIPE_SECRET_KEY (sk_… or rk_…) and STRIPE_WEBHOOK_SECRET (whsec_…)');
    expect(leaked(output.join('\n'))).toEqual([]);
  });

  const RESTRICTED_KEY = `rk_live_${SECRET_KEY.slice('sk_live_'.length)}`;

  it('takes a restricted key (rk_…) in the shared secret and in the environment', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ secretKey: RESTRICTED_KEY, webhookSecret: WEBHOOK_SECRET }) });

    expect(await loadStripeSecrets({ STRIPE_SECRET_ARN: arn('stripe-restricted') })).toEqual({ secretKey: RESTRICTED_KEY, webhookSecret: WEBHOOK_SECRET });
    expect(await loadStripeSecrets({ STRIPE_SECRET_KEY: RESTRICTED_KEY, STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET })).toEqual({
      secretKey: RESTRICTED_KEY,
      webhookSecret: WEBHOOK_SECRET,
    });
  });

  describe("the upgrade route's own key", () => {
    it('reads a restricted key from the secret named by STRIPE_CHECKOUT_SECRET_ARN, and only that secret', async () => {
      secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ secretKey: RESTRICTED_KEY }) });

      const key = await loadCheckoutKey({ STRIPE_CHECKOUT_SECRET_ARN: arn('checkout-ok'), STRIPE_SECRET_ARN: arn('stripe-wider') });

      expect(key).toBe(RESTRICTED_KEY);
      expect(secrets.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input)).toEqual([{ SecretId: arn('checkout-ok') }]);
    });

    it.each([
      ['a full secret key (it could do anything)', JSON.stringify({ secretKey: SECRET_KEY })],
      ["the shared secret's shape with a secret key", JSON.stringify({ secretKey: SECRET_KEY, webhookSecret: WEBHOOK_SECRET })],
      ['the bare restricted key instead of JSON', RESTRICTED_KEY],
    ])('refuses %s, naming the expected shape and never the key', async (name, secretString) => {
      secrets.on(GetSecretValueCommand).resolves({ SecretString: secretString });

      const error = await loadCheckoutKey({ STRIPE_CHECKOUT_SECRET_ARN: arn(`checkout-bad-${name.replace(/\W+/g, '-')}`) }).catch((e: unknown) => e as Error);

      expect((error as Error).message).toContain(
        '{ "secretKey": "rk_…" }: a restricted key with Checkout Sessions, Subscriptions and Customer portal write and Invoices read only',
      );
      expect(leaked(`${(error as Error).message}\n${(error as Error).stack}`)).toEqual([]);
      expect(leaked(output.join('\n'))).toEqual([]);
    });

    it('never falls back to the wider secret: without its own, it takes only a key from the environment (local mode)', async () => {
      const error = await loadCheckoutKey({ STRIPE_SECRET_ARN: arn('stripe-wider') }).catch((e: unknown) => e as Error);

      expect((error as Error).message).toBe('set STRIPE_CHECKOUT_SECRET_ARN, or STRIPE_SECRET_KEY (sk_… or rk_…)');
      expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(0);
      expect(await loadCheckoutKey({ STRIPE_SECRET_KEY: 'sk_test_local' })).toBe('sk_test_local');
    });
  });
});
