/** The exact API Gateway requests the AWS key adapter sends, and the repeats it tolerates (so a crashed run can be re-run). */
import {
  APIGatewayClient,
  ConflictException,
  CreateApiKeyCommand,
  CreateUsagePlanKeyCommand,
  DeleteApiKeyCommand,
  DeleteUsagePlanKeyCommand,
  GetApiKeysCommand,
  GetUsagePlanKeyCommand,
  NotFoundException,
  TooManyRequestsException,
} from '@aws-sdk/client-api-gateway';
import { mockClient } from 'aws-sdk-client-mock';
import { AwsGatewayKeyRegistry } from '../../lambdas/adapters/gateway-keys-aws.ts';

const PLANS = { free: 'plan-free', pro: 'plan-pro', enterprise: 'plan-ent' } as const;
const conflict = () =>
  new ConflictException({
    message: 'Usage Plan plan-pro cannot be added because API Key k1 cannot reference multiple Usage Plans with the same API Stage: abc:prod',
    $metadata: { httpStatusCode: 409 },
  });
const notFound = () => new NotFoundException({ message: 'Invalid Usage Plan Key identifier specified', $metadata: { httpStatusCode: 404 } });

describe('AWS gateway key registry', () => {
  const api = mockClient(APIGatewayClient);
  const registry = new AwsGatewayKeyRegistry(new APIGatewayClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } }), PLANS);
  beforeEach(() => api.reset());
  /** Every request sent, in order, as [command, input]. */
  const sent = () => api.calls().map((call) => [(call.args[0] as { constructor: { name: string } }).constructor.name, call.args[0].input]);

  it("creates a key under its name, then adds it to the tier's plan", async () => {
    api.on(CreateApiKeyCommand).resolves({ id: 'k1', value: 'v'.repeat(40) });
    api.on(CreateUsagePlanKeyCommand).resolves({ id: 'k1' });

    expect(await registry.createKey('cust_1', 'pro', 'cust_1.abc')).toEqual({ gatewayKeyId: 'k1', gatewayKeyValue: 'v'.repeat(40) });
    expect(sent()).toEqual([
      ['CreateApiKeyCommand', { name: 'cust_1.abc', enabled: true }],
      ['CreateUsagePlanKeyCommand', { usagePlanId: 'plan-pro', keyId: 'k1', keyType: 'API_KEY' }],
    ]);
  });

  it("names a new customer's first key after the customer", async () => {
    api.on(CreateApiKeyCommand).resolves({ id: 'k1', value: 'v'.repeat(40) });
    api.on(CreateUsagePlanKeyCommand).resolves({ id: 'k1' });
    await registry.createKey('cust_1', 'free');
    expect(sent()[0]).toEqual(['CreateApiKeyCommand', { name: 'cust_1', enabled: true }]);
  });

  it('takes a ConflictException for a key already in that plan (a retry) as done', async () => {
    api.on(CreateApiKeyCommand).resolves({ id: 'k1', value: 'v'.repeat(40) });
    api.on(CreateUsagePlanKeyCommand).rejects(conflict());
    api.on(GetUsagePlanKeyCommand).resolves({ id: 'k1', type: 'API_KEY' });

    await expect(registry.createKey('cust_1', 'pro', 'cust_1.abc')).resolves.toEqual({ gatewayKeyId: 'k1', gatewayKeyValue: 'v'.repeat(40) });
    expect(sent().slice(1)).toEqual([
      ['CreateUsagePlanKeyCommand', { usagePlanId: 'plan-pro', keyId: 'k1', keyType: 'API_KEY' }],
      ['GetUsagePlanKeyCommand', { usagePlanId: 'plan-pro', keyId: 'k1' }],
    ]);
  });

  it('passes on the ConflictException when the key is in another plan of the stage', async () => {
    api.on(CreateApiKeyCommand).resolves({ id: 'k1', value: 'v'.repeat(40) });
    api.on(CreateUsagePlanKeyCommand).rejects(conflict());
    api.on(GetUsagePlanKeyCommand).rejects(notFound());

    await expect(registry.createKey('cust_1', 'pro', 'cust_1.abc')).rejects.toMatchObject({
      name: 'ConflictException',
      message: expect.stringContaining('multiple Usage Plans'),
    });
  });

  it('deletes a key by id: out of its plan, then the key', async () => {
    api.on(DeleteUsagePlanKeyCommand).resolves({});
    api.on(DeleteApiKeyCommand).resolves({});

    await registry.deleteKey({ gatewayKeyId: 'k1' }, 'free');
    expect(sent()).toEqual([
      ['DeleteUsagePlanKeyCommand', { usagePlanId: 'plan-free', keyId: 'k1' }],
      ['DeleteApiKeyCommand', { apiKey: 'k1' }],
    ]);
  });

  it('re-runs a delete whose steps were done already (NotFound) without an error', async () => {
    api.on(DeleteUsagePlanKeyCommand).rejects(notFound());
    api.on(DeleteApiKeyCommand).rejects(new NotFoundException({ message: 'Invalid API Key identifier specified', $metadata: { httpStatusCode: 404 } }));

    await expect(registry.deleteKey({ gatewayKeyId: 'k1' }, 'free')).resolves.toBeUndefined();
    expect(sent().map(([name]) => name)).toEqual(['DeleteUsagePlanKeyCommand', 'DeleteApiKeyCommand']);
  });

  it('passes on any other failure, so the entry stays for the next run', async () => {
    api.on(DeleteUsagePlanKeyCommand).resolves({});
    api.on(DeleteApiKeyCommand).rejects(new TooManyRequestsException({ message: 'Too Many Requests', $metadata: { httpStatusCode: 429 } }));

    await expect(registry.deleteKey({ gatewayKeyId: 'k1' }, 'free')).rejects.toMatchObject({ name: 'TooManyRequestsException' });
  });

  it('deletes a key known only by name: the keys with exactly that name, over every page (nameQuery matches a prefix)', async () => {
    api
      .on(GetApiKeysCommand, { nameQuery: 'cust_1.abc', limit: 500, position: undefined })
      .resolves({
        items: [
          { id: 'k1', name: 'cust_1.abc' },
          { id: 'k9', name: 'cust_1.abcd' },
        ],
        position: 'p2',
      })
      .on(GetApiKeysCommand, { nameQuery: 'cust_1.abc', limit: 500, position: 'p2' })
      .resolves({ items: [{ id: 'k2', name: 'cust_1.abc' }] });
    api.on(DeleteUsagePlanKeyCommand).resolves({});
    api.on(DeleteApiKeyCommand).resolves({});

    await registry.deleteKey({ name: 'cust_1.abc' }, 'pro');
    expect(sent()).toEqual([
      ['GetApiKeysCommand', { nameQuery: 'cust_1.abc', limit: 500, position: undefined }],
      ['GetApiKeysCommand', { nameQuery: 'cust_1.abc', limit: 500, position: 'p2' }],
      ['DeleteUsagePlanKeyCommand', { usagePlanId: 'plan-pro', keyId: 'k1' }],
      ['DeleteApiKeyCommand', { apiKey: 'k1' }],
      ['DeleteUsagePlanKeyCommand', { usagePlanId: 'plan-pro', keyId: 'k2' }],
      ['DeleteApiKeyCommand', { apiKey: 'k2' }],
    ]);
  });

  it('finds nothing to delete when a crashed change never created its key', async () => {
    api.on(GetApiKeysCommand).resolves({ items: [] });
    await registry.deleteKey({ name: 'cust_1.abc' }, 'pro');
    expect(sent().map(([name]) => name)).toEqual(['GetApiKeysCommand']);
  });
});
