import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { freshTables } from './dynamodb.ts';

describe('test harness', () => {
  it('creates the usage events table from the synthesized template, with its stream', async () => {
    const { client, tables } = await freshTables();
    const described = await client.send(new DescribeTableCommand({ TableName: tables.usageEvents }));
    expect(described.Table?.StreamSpecification).toEqual({ StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' });
    expect(described.Table?.KeySchema).toEqual([{ AttributeName: 'requestId', KeyType: 'HASH' }]);
  });
});
