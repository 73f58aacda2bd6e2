import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { ApiBillingStack } from '../../lib/api-billing-stack.ts';
import { deployedStackFromOutputs, REQUIRED_OUTPUTS } from '../../cli/deployed.ts';
import { CliError } from '../../cli/context.ts';

describe('CLI against a deployed stack', () => {
  const required = [
    ...Object.values(REQUIRED_OUTPUTS.tables),
    ...Object.values(REQUIRED_OUTPUTS.usagePlans),
    REQUIRED_OUTPUTS.stripeSecret,
    REQUIRED_OUTPUTS.alertTopic,
  ];

  it('finds every output it needs in the synthesized stack', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const outputs = Object.keys(Template.fromStack(new ApiBillingStack(app, 'ApiBilling')).toJSON().Outputs as object);
    expect(outputs).toEqual(expect.arrayContaining(required));
  });

  it('maps the outputs to tables, usage plans, the Stripe secret and the alert topic', () => {
    const outputs = Object.fromEntries(required.map((key) => [key, `value-of-${key}`]));
    expect(deployedStackFromOutputs('ApiBilling', outputs)).toEqual({
      tables: {
        customers: 'value-of-CustomersTable',
        apiKeys: 'value-of-ApiKeysTable',
        usageEvents: 'value-of-UsageEventsTable',
        counters: 'value-of-CountersTable',
        billing: 'value-of-BillingTable',
      },
      usagePlanIds: { free: 'value-of-UsagePlanIdFree', pro: 'value-of-UsagePlanIdPro', enterprise: 'value-of-UsagePlanIdEnterprise' },
      stripeSecretArn: 'value-of-StripeSecretArn',
      alertTopicArn: 'value-of-AlertTopicArn',
    });
  });

  it('names the missing output of a stack that is not (this version of) api-billing', () => {
    expect(() => deployedStackFromOutputs('Other', { CustomersTable: 'x' })).toThrow(CliError);
    expect(() => deployedStackFromOutputs('Other', { CustomersTable: 'x' })).toThrow(/stack Other has no output ApiKeysTable/);
  });
});
