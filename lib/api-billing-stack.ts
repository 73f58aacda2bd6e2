import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { BillingTables } from './tables.ts';

export interface ApiBillingStackProps extends StackProps {}

/** The whole product: tables, metered gateway, aggregation, billing sync, alerts, dashboard. */
export class ApiBillingStack extends Stack {
  readonly tables: BillingTables;

  constructor(scope: Construct, id: string, props: ApiBillingStackProps = {}) {
    super(scope, id, props);
    this.tables = new BillingTables(this, 'Tables');
  }
}
