import { App, Duration, Stack } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Alerts } from '../../lib/alerts.ts';
import { Aggregation } from '../../lib/aggregation.ts';
import { ProductFunction } from '../../lib/lambda-defaults.ts';
import { MeteredApi } from '../../lib/metered-api.ts';
import { StripeBilling } from '../../lib/stripe-billing.ts';
import { BillingTables } from '../../lib/tables.ts';
import { TraceSampling } from '../../lib/trace-sampling.ts';
import { synthesizeStack } from './synth.ts';

const scratchStack = () => {
  const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Scratch');
  return { stack, tables: new BillingTables(stack, 'Tables') };
};

describe('construct props', () => {
  describe('an operator backend instead of the sample one', () => {
    let template: Template;
    beforeAll(() => {
      const backend = new apigateway.HttpIntegration('https://backend.example.com/{proxy}', { proxy: true });
      ({ template } = synthesizeStack({ backend }));
    });

    it('integrates the metered routes with it', () => {
      template.hasResourceProperties('AWS::ApiGateway::Method', {
        ApiKeyRequired: true,
        Integration: Match.objectLike({ Type: 'HTTP_PROXY', Uri: 'https://backend.example.com/{proxy}' }),
      });
    });

    it('creates no sample backend', () => {
      template.resourceCountIs('AWS::Lambda::Function', 11);
      expect(JSON.stringify(template.toJSON())).not.toContain('SampleBackend');
    });
  });

  it.each([-0.1, 1.5, Number.NaN])('TraceSampling rejects a fixed rate of %s, saying what to fix', (fixedRate) => {
    const { stack, tables } = scratchStack();
    const { api } = new MeteredApi(stack, 'Api', { tables });

    expect(() => new TraceSampling(stack, 'Sampling', { stage: api.deploymentStage, fixedRate })).toThrow(/fixedRate must be from 0 to 1/);
  });

  it('MeteredApi rejects a stage throttle that is not positive, saying what to fix', () => {
    const { stack, tables } = scratchStack();

    expect(() => new MeteredApi(stack, 'Api', { tables, stageThrottle: { rateLimit: 0, burstLimit: 10 } })).toThrow(/stageThrottle needs a positive rateLimit/);
  });

  it.each([0, 10_001, 1.5])('Aggregation rejects batchSize %s', (batchSize) => {
    const { stack, tables } = scratchStack();
    const accessLogGroup = new logs.LogGroup(stack, 'Logs');

    expect(() => new Aggregation(stack, 'Aggregation', { tables, accessLogGroup, batchSize })).toThrow(/batchSize must be an integer from 1 to 10000/);
  });

  describe('StripeBilling', () => {
    const stripeBillingIn = (stack: Stack, tables: BillingTables) => ({
      tables,
      meteredApi: new MeteredApi(stack, 'Api', { tables }),
      alerts: new Alerts(stack, 'Alerts'),
    });

    it('uses existing Stripe secrets instead of creating them', () => {
      const { stack, tables } = scratchStack();
      const stripeSecret = secretsmanager.Secret.fromSecretCompleteArn(stack, 'Existing', 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:stripe-AbCdEf');
      const checkoutSecret = secretsmanager.Secret.fromSecretCompleteArn(
        stack,
        'ExistingCheckout',
        'arn:aws:secretsmanager:eu-west-1:123456789012:secret:stripe-checkout-AbCdEf',
      );

      new StripeBilling(stack, 'Stripe', { ...stripeBillingIn(stack, tables), stripeSecret, checkoutSecret });
      const template = Template.fromStack(stack);

      template.resourceCountIs('AWS::SecretsManager::Secret', 0);
      template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: { Variables: Match.objectLike({ STRIPE_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:stripe-AbCdEf' }) },
      });
      template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: {
          Variables: Match.objectLike({ STRIPE_CHECKOUT_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:stripe-checkout-AbCdEf' }),
        },
      });
    });

    it.each([Duration.seconds(30), Duration.seconds(90), Duration.hours(2)])('rejects a sync interval of %s, saying what is allowed', (syncInterval) => {
      const { stack, tables } = scratchStack();

      expect(() => new StripeBilling(stack, 'Stripe', { ...stripeBillingIn(stack, tables), syncInterval })).toThrow(
        /syncInterval must be a whole number of minutes from 1 to 60/,
      );
    });
  });

  it('ProductFunction names the missing entry file', () => {
    const { stack } = scratchStack();

    expect(() => new ProductFunction(stack, 'Fn', { handlerName: 'no-such-handler', description: 'x' })).toThrow(
      /create lambdas\/no-such-handler\/handler\.ts/,
    );
  });
});
