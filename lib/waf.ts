/**
 * AWS WAF web ACLs in front of the product's API stages (REGIONAL, associated with the stage).
 * AWS WAF costs $5 per web ACL and $1 per rule a month, plus $0.60 per million requests inspected.
 */
import type * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';

/**
 * Stripe's webhook source addresses, from its published list (https://stripe.com/files/ips/ips_webhooks.txt,
 * linked from https://docs.stripe.com/ips#webhook-notifications). Stripe announces changes on its
 * api-announce list seven days ahead: check the list before a deploy and pass `-c stripeWebhookIps=…` when it moved.
 */
export const STRIPE_WEBHOOK_IPS: readonly string[] = [
  '3.18.12.63',
  '3.69.109.8',
  '3.120.168.93',
  '3.130.192.231',
  '13.235.14.237',
  '13.235.122.149',
  '18.211.135.69',
  '35.154.171.200',
  '35.157.207.129',
  '52.15.183.38',
  '54.88.130.119',
  '54.88.130.237',
  '54.187.174.169',
  '54.187.205.235',
  '54.187.216.72',
];

/** A rule's metrics and sampled requests, named for CloudWatch (letters, digits, `-` and `_` only). */
const visibility = (metricName: string): wafv2.CfnWebACL.VisibilityConfigProperty => ({
  cloudWatchMetricsEnabled: true,
  metricName,
  sampledRequestsEnabled: true,
});

export interface PerIpRateLimitAclProps {
  /** The stage the web ACL guards. */
  readonly stage: apigateway.Stage;
  /**
   * Requests one IP address may send in any 5 minutes before its requests are blocked (429) until
   * its rate falls back under the limit. Above a customer's own usage-plan throttle (1,000 a
   * minute per key), so only a caller sending for several keys from one address, or for none, meets it.
   * @default 10_000
   */
  readonly requestsPerFiveMinutesPerIp?: number;
}

/**
 * The metered API's web ACL: allows by default, blocks addresses on Amazon's IP reputation list
 * and, per IP, a rate above `requestsPerFiveMinutesPerIp`. It acts before API Gateway's stage
 * throttle, so one address flooding the API (with or without a key) does not use up the stage's
 * shared rate and get paying customers 429s.
 */
export class PerIpRateLimitAcl extends Construct {
  readonly webAcl: wafv2.CfnWebACL;

  constructor(scope: Construct, id: string, props: PerIpRateLimitAclProps) {
    super(scope, id);
    const limit = props.requestsPerFiveMinutesPerIp ?? 10_000;
    // AWS WAF's bounds for a rate-based rule's limit.
    if (!Number.isInteger(limit) || limit < 10 || limit > 2_000_000_000) {
      throw new Error(`PerIpRateLimitAcl ${id}: requestsPerFiveMinutesPerIp must be a whole number from 10 to 2,000,000,000, got ${limit}`);
    }
    this.webAcl = new wafv2.CfnWebACL(this, 'WebAcl', {
      description: `api-billing metered API: at most ${limit} requests per IP per 5 minutes, Amazon IP reputation list blocked`,
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      visibilityConfig: visibility('api-billing-metered'),
      // Clients get JSON, as from the gateway's own responses.
      customResponseBodies: {
        'rate-limited': {
          contentType: 'APPLICATION_JSON',
          content: JSON.stringify({ error: 'rate_limited', message: 'Too many requests from this address: slow down and retry in a few minutes.' }),
        },
      },
      rules: [
        {
          // $1 a month: addresses Amazon's threat intelligence ties to bots and floods, blocked before they
          // count against anything. The Common Rule Set is left out: it blocks bodies over 8 KB, which the
          // metered routes proxy to the operator's backend.
          name: 'AmazonIpReputationList',
          priority: 0,
          statement: { managedRuleGroupStatement: { vendorName: 'AWS', name: 'AWSManagedRulesAmazonIpReputationList' } },
          overrideAction: { none: {} },
          visibilityConfig: visibility('api-billing-metered-ip-reputation'),
        },
        {
          name: 'RequestsPerIp',
          priority: 1,
          statement: { rateBasedStatement: { limit, aggregateKeyType: 'IP', evaluationWindowSec: 300 } },
          action: { block: { customResponse: { responseCode: 429, customResponseBodyKey: 'rate-limited' } } },
          visibilityConfig: visibility('api-billing-metered-requests-per-ip'),
        },
      ],
    });
    new wafv2.CfnWebACLAssociation(this, 'Association', { resourceArn: props.stage.stageArn, webAclArn: this.webAcl.attrArn });
  }
}

export interface SourceIpAllowListAclProps {
  /** The stage the web ACL guards. */
  readonly stage: apigateway.Stage;
  /** The only IPv4 addresses (`1.2.3.4`) or CIDR ranges (`1.2.3.0/24`) allowed to call it. */
  readonly allowedIps: readonly string[];
  /** Who the addresses belong to, for the web ACL's description (e.g. "Stripe webhooks"). */
  readonly allowedSource: string;
}

/** A web ACL that blocks every request except from the listed addresses: for an API only one service calls. */
export class SourceIpAllowListAcl extends Construct {
  readonly webAcl: wafv2.CfnWebACL;

  constructor(scope: Construct, id: string, props: SourceIpAllowListAclProps) {
    super(scope, id);
    if (props.allowedIps.length === 0) throw new Error(`SourceIpAllowListAcl ${id}: allowedIps is empty, which would block every caller`);
    const bad = props.allowedIps.filter((ip) => !isIpv4OrCidr(ip));
    if (bad.length > 0) {
      throw new Error(
        `SourceIpAllowListAcl ${id}: ${bad.map((ip) => JSON.stringify(ip)).join(', ')} is not an IPv4 address or CIDR range (e.g. 3.18.12.63 or 3.18.12.0/24)`,
      );
    }
    const ipSet = new wafv2.CfnIPSet(this, 'AllowedIps', {
      description: `${props.allowedSource}: the only allowed callers`,
      scope: 'REGIONAL',
      ipAddressVersion: 'IPV4',
      // WAF takes CIDR notation only: a single address is its /32.
      addresses: props.allowedIps.map((ip) => (ip.includes('/') ? ip : `${ip}/32`)),
    });
    this.webAcl = new wafv2.CfnWebACL(this, 'WebAcl', {
      description: `Only ${props.allowedSource} may call`,
      scope: 'REGIONAL',
      defaultAction: { block: {} },
      visibilityConfig: visibility(`${id}-blocked`),
      rules: [
        {
          name: 'AllowedSource',
          priority: 0,
          statement: { ipSetReferenceStatement: { arn: ipSet.attrArn } },
          action: { allow: {} },
          visibilityConfig: visibility(`${id}-allowed`),
        },
      ],
    });
    new wafv2.CfnWebACLAssociation(this, 'Association', { resourceArn: props.stage.stageArn, webAclArn: this.webAcl.attrArn });
  }
}

/** A dotted IPv4 address, optionally with a /0–/32 prefix length. */
function isIpv4OrCidr(value: string): boolean {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(value);
  if (!match) return false;
  const octets = match.slice(1, 5).map(Number);
  const prefix = match[5] === undefined ? 32 : Number(match[5]);
  return octets.every((o) => o <= 255) && prefix <= 32;
}
