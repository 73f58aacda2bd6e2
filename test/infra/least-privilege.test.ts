/** What each role may do, on the synthesized template: the wildcards that remain, and the narrowed grants. */
import type { Template } from 'aws-cdk-lib/assertions';
import { SYNC_CUSTOMER_ATTRIBUTES } from '../../lib/stripe-billing.ts';
import { actionsOn, logicalIdAt, statementsOfFunction, synthesizeStack } from './synth.ts';

type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: Record<string, Record<string, unknown>> };

let template: Template;
let resources: Record<string, { Type: string; Properties: Record<string, any> }>;
beforeAll(() => {
  ({ template } = synthesizeStack());
  resources = template.toJSON().Resources;
});

/** Every statement of every IAM policy in the stack, with the policy's logical id. */
const iamStatements = () =>
  Object.entries(resources)
    .filter(([, r]) => r.Type === 'AWS::IAM::Policy')
    .flatMap(([id, r]) => (r.Properties.PolicyDocument.Statement as Statement[]).map((statement) => ({ id, statement })));
const actionsOf = (statement: Statement) => [statement.Action].flat();

describe('least privilege', () => {
  it('allows Resource "*" only for the actions that have no resource-level permissions (X-Ray, and the stream mapping\'s ListStreams)', () => {
    const onAnyResource = iamStatements().filter(({ statement }) => statement.Resource === '*' || [statement.Resource].flat().includes('*'));

    expect(new Set(onAnyResource.flatMap(({ statement }) => actionsOf(statement)))).toEqual(
      new Set(['xray:PutTraceSegments', 'xray:PutTelemetryRecords', 'dynamodb:ListStreams']),
    );
  });

  it("has no wildcard action but kms:GenerateDataKey* on the alert topic's key (SNS encrypts each alert with it)", () => {
    const wildcards = iamStatements().flatMap(({ statement }) =>
      actionsOf(statement)
        .filter((a) => a.includes('*'))
        .map((action) => ({ action, statement })),
    );

    expect(new Set(wildcards.map((w) => w.action))).toEqual(new Set(['kms:GenerateDataKey*']));
    for (const { statement } of wildcards)
      expect(statement.Resource).toEqual({ 'Fn::GetAtt': [logicalIdAt(template, 'ApiBilling/Alerts/Key/Resource'), 'Arn'] });
  });

  it('lets the sync update only the customer attributes it writes, returning no others', () => {
    const customers = logicalIdAt(template, 'ApiBilling/Tables/Customers/Resource');
    const sync = statementsOfFunction(template, logicalIdAt(template, 'ApiBilling/StripeBilling/SyncFunction/Resource')) as Statement[];

    const updates = sync.filter((s) => actionsOf(s).includes('dynamodb:UpdateItem') && JSON.stringify(s.Resource).includes(`"${customers}"`));

    expect(updates).toEqual([
      {
        Effect: 'Allow',
        Action: 'dynamodb:UpdateItem',
        Resource: { 'Fn::GetAtt': [customers, 'Arn'] },
        Condition: {
          'ForAllValues:StringEquals': { 'dynamodb:Attributes': [...SYNC_CUSTOMER_ATTRIBUTES] },
          StringEqualsIfExists: { 'dynamodb:ReturnValues': ['NONE', 'UPDATED_OLD', 'UPDATED_NEW'], 'dynamodb:Select': 'SPECIFIC_ATTRIBUTES' },
        },
      },
    ]);
    // Never what a customer's standing rests on beyond the move to Free, nor how Stripe names it.
    for (const attribute of ['status', 'capCents', 'capBehaviour', 'subscriptionId', 'paymentIssueSince'])
      expect(SYNC_CUSTOMER_ATTRIBUTES).not.toContain(attribute);
  });

  it.each([
    ['AggregatorFunction', ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem']],
    ['OutcomeFunction', ['dynamodb:PutItem', 'dynamodb:UpdateItem']],
  ])('grants the %s exactly the counters actions it calls', (fn, expected) => {
    const statements = statementsOfFunction(template, logicalIdAt(template, `ApiBilling/Aggregation/${fn}/Resource`));

    expect(actionsOn(statements, logicalIdAt(template, 'ApiBilling/Tables/Counters/Resource'))).toEqual(expected);
  });

  it("lets CloudWatch use the alert topic's key only for this account's alarms, and only to decrypt and make data keys", () => {
    const keyPolicy = resources[logicalIdAt(template, 'ApiBilling/Alerts/Key/Resource')]!.Properties.KeyPolicy.Statement as Array<
      Statement & { Principal: unknown }
    >;

    const forCloudWatch = keyPolicy.filter((s) => JSON.stringify(s.Principal).includes('cloudwatch.amazonaws.com'));

    expect(forCloudWatch).toEqual([
      {
        Effect: 'Allow',
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        Resource: '*',
        Condition: {
          StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
          ArnLike: {
            'aws:SourceArn': {
              'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':cloudwatch:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':alarm:*']],
            },
          },
        },
      },
    ]);
  });
});
