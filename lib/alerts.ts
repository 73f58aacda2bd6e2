import { Stack, Validations } from 'aws-cdk-lib';
import type { IGrantable } from 'aws-cdk-lib/aws-iam';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';

export interface AlertsProps {
  /**
   * Who receives alert e-mails (each confirms the subscription once).
   * @default - none: subscribe later, or set the context value `alertEmails` (comma-separated)
   */
  readonly emails?: readonly string[];
}

/** The encrypted SNS topic every billing alert and alarm goes to, with the operators' e-mails subscribed. */
export class Alerts extends Construct {
  readonly topic: sns.Topic;

  constructor(scope: Construct, id: string, props: AlertsProps = {}) {
    super(scope, id);
    for (const email of props.emails ?? []) {
      if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email))
        throw new Error(`Alerts ${id}: "${email}" is not an e-mail address (set alertEmails to a comma-separated list of addresses)`);
    }
    const key = new kms.Key(this, 'Key', { description: 'api-billing alert topic', enableKeyRotation: true });
    // CloudWatch alarms publish to the topic and need the two actions SNS documents for an encrypted
    // topic's AWS service publishers, for this account's alarms only (a service principal acting
    // for another account's alarm is the confused deputy the source conditions rule out).
    const { account, partition, region } = Stack.of(this);
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        // In a key policy "*" is this key.
        resources: ['*'],
        conditions: {
          StringEquals: { 'aws:SourceAccount': account },
          ArnLike: { 'aws:SourceArn': `arn:${partition}:cloudwatch:${region}:${account}:alarm:*` },
        },
      }),
    );
    this.topic = new sns.Topic(this, 'Topic', { displayName: 'api-billing alerts', masterKey: key, enforceSSL: true });
    for (const email of props.emails ?? []) this.topic.addSubscription(new subscriptions.EmailSubscription(email));
  }

  /** Lets `grantee` publish alerts: SNS needs the topic key's GenerateDataKey* family to encrypt them. */
  grantPublish(grantee: IGrantable & { readonly role?: iam.IRole }): void {
    this.topic.grantPublish(grantee);
    if (grantee.role) {
      Validations.of(grantee.role).acknowledge({
        id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
        reason: "KMS's GenerateDataKey* actions on the alert topic's own key only: SNS uses them to encrypt each published alert.",
      });
    }
  }
}
