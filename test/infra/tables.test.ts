import { Match, type Template } from 'aws-cdk-lib/assertions';
import { synthesizeTableDefinitions } from '../../local/tables.ts';
import { logicalIdAt, synthesizeStack } from './synth.ts';

let template: Template;
beforeAll(() => {
  ({ template } = synthesizeStack());
});

const table = (name: string) => template.toJSON().Resources[logicalIdAt(template, `ApiBilling/Tables/${name}/Resource`)];

describe('billing tables', () => {
  it.each([
    ['Customers', [{ AttributeName: 'customerId', KeyType: 'HASH' }]],
    ['ApiKeys', [{ AttributeName: 'keyHash', KeyType: 'HASH' }]],
    ['UsageEvents', [{ AttributeName: 'requestId', KeyType: 'HASH' }]],
    [
      'Counters',
      [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
    ],
    [
      'Billing',
      [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
    ],
  ])('%s: key schema, on-demand, encrypted, point-in-time recoverable, retained', (name, keySchema) => {
    const resource = table(name);

    expect(resource.Properties).toMatchObject({
      KeySchema: keySchema,
      BillingMode: 'PAY_PER_REQUEST',
      SSESpecification: { SSEEnabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      DeletionProtectionEnabled: true,
    });
    expect(resource.DeletionPolicy).toBe('Retain');
    expect(resource.UpdateReplacePolicy).toBe('Retain');
  });

  it('streams usage events with old and new images and expires them by TTL', () => {
    expect(table('UsageEvents').Properties).toMatchObject({
      StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
  });

  it.each(['Counters', 'Billing'])('%s has the expiresAt TTL attribute (dedupe markers only)', (name) => {
    expect(table(name).Properties.TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: true });
  });

  it("lists a customer's keys through the byCustomer index", () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'keyHash', KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [
        Match.objectLike({
          IndexName: 'byCustomer',
          KeySchema: [
            { AttributeName: 'customerId', KeyType: 'HASH' },
            { AttributeName: 'createdAt', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        }),
      ],
    });
  });

  it('has exactly the six tables, all found by the local stack under Tables/', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 6);
    expect(
      synthesizeTableDefinitions()
        .map((d) => d.role)
        .sort(),
    ).toEqual(['apiKeys', 'billing', 'counters', 'customers', 'idempotency', 'usageEvents']);
  });

  it("keeps webhook event claims in the layout of Powertools' idempotency utility: partition key id, TTL expiration", () => {
    expect(table('Idempotency').Properties).toMatchObject({
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
      TimeToLiveSpecification: { AttributeName: 'expiration', Enabled: true },
    });
    expect(table('Idempotency').Properties.StreamSpecification).toBeUndefined();
  });
});
