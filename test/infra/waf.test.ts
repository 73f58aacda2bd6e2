import { App, Stack } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { ApiBillingStack } from '../../lib/api-billing-stack.ts';
import { SourceIpAllowListAcl, STRIPE_WEBHOOK_IPS } from '../../lib/waf.ts';
import { logicalIdAt, synthesizeStack } from './synth.ts';

/** The web ACL associated with the stage at `stagePath`, by the association's references. */
function webAclOfStage(template: Template, stagePath: string): Record<string, any> {
  const stage = logicalIdAt(template, stagePath);
  const associations = Object.values(template.findResources('AWS::WAFv2::WebACLAssociation')).filter((a) =>
    JSON.stringify(a.Properties.ResourceArn).includes(`"${stage}"`),
  );
  expect(associations).toHaveLength(1);
  const aclId = associations[0]!.Properties.WebACLArn['Fn::GetAtt'][0] as string;
  return template.toJSON().Resources[aclId].Properties;
}

describe('web ACLs (WAF on by default)', () => {
  let template: Template;
  beforeAll(() => {
    ({ template } = synthesizeStack());
  });

  it('puts one REGIONAL web ACL on each API stage', () => {
    template.resourceCountIs('AWS::WAFv2::WebACL', 2);
    template.allResourcesProperties('AWS::WAFv2::WebACL', { Scope: 'REGIONAL' });
  });

  it('associates the metered stage by its ARN with a web ACL that allows by default and blocks, per IP, over 10,000 requests in 5 minutes with a JSON 429', () => {
    const stage = logicalIdAt(template, 'ApiBilling/MeteredApi/Api/DeploymentStage.prod/Resource');
    const acl = webAclOfStage(template, 'ApiBilling/MeteredApi/Api/DeploymentStage.prod/Resource');

    template.hasResourceProperties('AWS::WAFv2::WebACLAssociation', {
      ResourceArn: { 'Fn::Join': ['', Match.arrayWith([{ Ref: logicalIdAt(template, 'ApiBilling/MeteredApi/Api/Resource') }, '/stages/', { Ref: stage }])] },
    });
    expect(acl.DefaultAction).toEqual({ Allow: {} });
    const rate = (acl.Rules as Array<Record<string, any>>).find((r) => r.Statement.RateBasedStatement);
    expect(rate).toMatchObject({
      Statement: { RateBasedStatement: { Limit: 10_000, AggregateKeyType: 'IP', EvaluationWindowSec: 300 } },
      Action: { Block: { CustomResponse: { ResponseCode: 429, CustomResponseBodyKey: 'rate-limited' } } },
    });
    expect(JSON.parse(acl.CustomResponseBodies['rate-limited'].Content)).toMatchObject({ error: 'rate_limited' });
    expect(acl.CustomResponseBodies['rate-limited'].ContentType).toBe('APPLICATION_JSON');
  });

  it("blocks addresses on Amazon's IP reputation list on the metered stage, and adds no other managed rule group ($1 a month each)", () => {
    const acl = webAclOfStage(template, 'ApiBilling/MeteredApi/Api/DeploymentStage.prod/Resource');
    const managed = (acl.Rules as Array<Record<string, any>>).filter((r) => r.Statement.ManagedRuleGroupStatement);

    expect(managed.map((r) => r.Statement.ManagedRuleGroupStatement)).toEqual([{ VendorName: 'AWS', Name: 'AWSManagedRulesAmazonIpReputationList' }]);
    expect(acl.Rules).toHaveLength(2);
  });

  it("lets only Stripe's published webhook addresses reach the webhook stage: default block, one allow rule on an IP set", () => {
    const acl = webAclOfStage(template, 'ApiBilling/StripeBilling/WebhookApi/DeploymentStage.prod/Resource');

    expect(acl.DefaultAction).toEqual({ Block: {} });
    expect(acl.Rules).toEqual([
      expect.objectContaining({ Action: { Allow: {} }, Statement: { IPSetReferenceStatement: { Arn: { 'Fn::GetAtt': [expect.any(String), 'Arn'] } } } }),
    ]);
    const ipSetId = acl.Rules[0].Statement.IPSetReferenceStatement.Arn['Fn::GetAtt'][0] as string;
    const ipSet = template.toJSON().Resources[ipSetId].Properties;
    expect(ipSet).toMatchObject({ Scope: 'REGIONAL', IPAddressVersion: 'IPV4' });
    expect(ipSet.Addresses).toEqual(STRIPE_WEBHOOK_IPS.map((ip) => `${ip}/32`));
  });

  it('takes the webhook addresses from the context value stripeWebhookIps', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [], stripeWebhookIps: '198.51.100.7, 203.0.113.0/24' } });
    const own = Template.fromStack(new ApiBillingStack(app, 'ApiBilling'));

    own.hasResourceProperties('AWS::WAFv2::IPSet', { Addresses: ['198.51.100.7/32', '203.0.113.0/24'] });
  });

  it.each([
    ['the string false (cdk deploy -c waf=false)', 'false'],
    ['the boolean false (cdk.json)', false],
  ])('leaves both web ACLs out when the context value waf is %s', (_name, waf) => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [], waf } });
    const own = Template.fromStack(new ApiBillingStack(app, 'ApiBilling'));

    own.resourceCountIs('AWS::WAFv2::WebACL', 0);
    own.resourceCountIs('AWS::WAFv2::WebACLAssociation', 0);
    own.resourceCountIs('AWS::WAFv2::IPSet', 0);
  });

  it.each([
    ['an empty list', []],
    ['a host name', ['hooks.stripe.com']],
    ['an octet over 255', ['3.18.12.630']],
    ['a prefix over 32', ['3.18.12.0/33']],
  ])('refuses %s of allowed addresses, saying what to fix', (_name, allowedIps) => {
    const stack = new Stack(new App(), 'Scratch');
    const api = new apigateway.RestApi(stack, 'Api');
    api.root.addMethod('GET');

    expect(() => new SourceIpAllowListAcl(stack, 'Acl', { stage: api.deploymentStage, allowedIps, allowedSource: 'test' })).toThrow(
      /allowedIps is empty|is not an IPv4 address or CIDR range/,
    );
  });
});
