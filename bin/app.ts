#!/usr/bin/env node
/** The CDK app: `npx cdk synth` works with no AWS credentials; `npx cdk deploy` deploys it. */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ApiBillingStack } from '../lib/api-billing-stack.ts';

const app = new App();
new ApiBillingStack(app, 'ApiBilling', { description: 'api-billing: usage-based billing for an HTTP API' });
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
