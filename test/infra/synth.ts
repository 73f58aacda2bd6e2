/** Synthesizes the product stack for the infrastructure tests. */
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { ApiBillingStack, type ApiBillingStackProps } from '../../lib/api-billing-stack.ts';

export interface SynthesizedStack {
  readonly app: App;
  readonly stack: ApiBillingStack;
  readonly template: Template;
}

/**
 * The stack's template, without bundling the Lambdas (esbuild's output is not what these tests
 * check; cdk-nag.test.ts bundles for real). Construct paths are kept in the metadata.
 */
export function synthesizeStack(props: ApiBillingStackProps = {}): SynthesizedStack {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [], 'aws:cdk:enable-path-metadata': true } });
  const stack = new ApiBillingStack(app, 'ApiBilling', props);
  return { app, stack, template: Template.fromStack(stack) };
}

/** The logical id of the resource synthesized at `path` (e.g. 'ApiBilling/Tables/Customers/Resource'). */
export function logicalIdAt(template: Template, path: string): string {
  const found = Object.entries(template.toJSON().Resources as Record<string, { Metadata?: Record<string, unknown> }>).filter(
    ([, resource]) => resource.Metadata?.['aws:cdk:path'] === path,
  );
  if (found.length !== 1) throw new Error(`expected one resource at ${path}, found ${found.length}`);
  return found[0]![0];
}

/** Every IAM statement attached to the role that `functionLogicalId` runs as. */
export function statementsOfFunction(template: Template, functionLogicalId: string): Array<{ Action: string | string[]; Resource: unknown; Effect: string }> {
  const json = template.toJSON() as { Resources: Record<string, { Type: string; Properties: Record<string, any> }> };
  const roleId = json.Resources[functionLogicalId]?.Properties.Role['Fn::GetAtt'][0] as string;
  return Object.values(json.Resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy' && (r.Properties.Roles as Array<{ Ref: string }>).some((role) => role.Ref === roleId))
    .flatMap((r) => r.Properties.PolicyDocument.Statement);
}

/** The actions `statements` allow on resources that mention `logicalId`. */
export function actionsOn(statements: ReturnType<typeof statementsOfFunction>, logicalId: string): string[] {
  return statements
    .filter((s) => s.Effect === 'Allow' && JSON.stringify(s.Resource).includes(`"${logicalId}"`))
    .flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]))
    .sort();
}
