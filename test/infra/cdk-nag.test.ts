/**
 * cdk-nag's AwsSolutions pack on the real synthesis (Lambdas bundled by esbuild, as `cdk synth`
 * does): no finding may be left unacknowledged, and every acknowledgment says why.
 */
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { IConstruct } from 'constructs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ApiBillingStack } from '../../lib/api-billing-stack.ts';

interface Finding {
  readonly rule: string;
  readonly severity: string;
  readonly path: string;
  readonly description: string;
}

interface ValidationReport {
  pluginReports: Array<{
    pluginName: string;
    violations: Array<{ ruleName: string; severity: string; description: string; violatingConstructs: Array<{ constructPath: string }> }>;
  }>;
}

/** Synthesizes `app` with the AwsSolutions pack and returns every unacknowledged finding, warnings included. */
function nagFindings(app: App, outdir: string): Finding[] {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  let thrown: unknown;
  try {
    app.synth();
  } catch (error) {
    // A failed validation throws after writing the report; any other error is a real failure.
    thrown = error;
  }
  const reportFile = join(outdir, 'validation-report.json');
  if (!existsSync(reportFile)) throw thrown ?? new Error(`synthesis wrote no ${reportFile}`);
  const report = JSON.parse(readFileSync(reportFile, 'utf8')) as ValidationReport;
  const findings = report.pluginReports.flatMap((plugin) =>
    plugin.violations.flatMap((v) =>
      v.violatingConstructs.map((c) => ({ rule: v.ruleName, severity: v.severity, path: c.constructPath, description: v.description })),
    ),
  );
  if (thrown && findings.length === 0) throw thrown;
  return findings;
}

/** Every acknowledgment recorded in the tree: where, which rule, and the reason given. */
function acknowledgments(root: IConstruct): Array<{ path: string; rule: string; reason: unknown; construct: IConstruct }> {
  return root.node
    .findAll()
    .flatMap((construct) =>
      construct.node.metadata
        .filter((entry) => entry.type === 'aws:cdk:acknowledged-rules')
        .flatMap((entry) =>
          Object.entries(entry.data as Record<string, unknown>).map(([rule, reason]) => ({ path: construct.node.path, rule, reason, construct })),
        ),
    );
}

const format = (findings: Finding[]) => findings.map((f) => `${f.severity} ${f.rule} at ${f.path}: ${f.description}`).join('\n');

describe('cdk-nag AwsSolutions', () => {
  let app: App;
  let stack: ApiBillingStack;
  let outdir: string;
  let findings: Finding[];
  beforeAll(() => {
    outdir = mkdtempSync(join(tmpdir(), 'api-billing-nag-'));
    app = new App({ outdir });
    stack = new ApiBillingStack(app, 'ApiBilling');
    findings = nagFindings(app, outdir);
  }, 120_000);

  it('leaves no finding unacknowledged', () => {
    if (findings.length > 0) console.error(`Unacknowledged cdk-nag findings:\n${format(findings)}`);

    expect(format(findings)).toBe('');
  });

  it('leaves no finding unacknowledged with WAF left out (-c waf=false): each stage says what guards it instead', () => {
    const noWafDir = mkdtempSync(join(tmpdir(), 'api-billing-nag-nowaf-'));
    // Bundling skipped: the Lambdas' code is the same as above, only the web ACLs differ.
    const noWaf = new App({ outdir: noWafDir, context: { waf: 'false', 'aws:cdk:bundling-stacks': [] } });
    new ApiBillingStack(noWaf, 'ApiBilling');

    const noWafFindings = nagFindings(noWaf, noWafDir);

    expect(format(noWafFindings)).toBe('');
    expect(acknowledgments(noWaf).filter((ack) => ack.rule.endsWith('AwsSolutions-APIG3'))).toHaveLength(2);
    expect(acknowledgments(app).filter((ack) => ack.rule.endsWith('AwsSolutions-APIG3'))).toEqual([]);
  }, 120_000);

  it('acknowledges on specific constructs, each with a concrete reason', () => {
    const acks = acknowledgments(app);

    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      expect({ ack: `${ack.rule} at ${ack.path}`, isStackOrApp: Stack.isStack(ack.construct) || ack.construct === app }).toEqual({
        ack: `${ack.rule} at ${ack.path}`,
        isStackOrApp: false,
      });
      expect({ ack: `${ack.rule} at ${ack.path}`, reason: typeof ack.reason === 'string' && ack.reason.trim().length >= 40 }).toEqual({
        ack: `${ack.rule} at ${ack.path}`,
        reason: true,
      });
    }
  });

  it('catches a finding when there is one (the check itself works)', () => {
    const scratchDir = mkdtempSync(join(tmpdir(), 'api-billing-nag-scratch-'));
    const scratch = new App({ outdir: scratchDir });
    new sqs.Queue(new Stack(scratch, 'Scratch'), 'PlainQueue');

    const scratchFindings = nagFindings(scratch, scratchDir);

    expect(scratchFindings.map((f) => f.rule)).toEqual(expect.arrayContaining(['AwsSolutions-SQS3', 'AwsSolutions-SQS4']));
  });

  it.each(['AuthorizerFunction', 'SampleBackend', 'AggregatorFunction', 'OutcomeFunction'])('bundles %s into one small CJS file with a source map', (name) => {
    const template = JSON.parse(readFileSync(join(outdir, `${stack.artifactId}.template.json`), 'utf8')) as {
      Resources: Record<string, { Type: string; Properties: { Code: { S3Key: string } } }>;
    };
    const [, fn] = Object.entries(template.Resources).find(([id, r]) => r.Type === 'AWS::Lambda::Function' && id.includes(name))!;
    const bundle = join(outdir, `asset.${fn.Properties.Code.S3Key.replace(/\.zip$/, '')}`, 'index.js');

    const code = readFileSync(bundle, 'utf8');

    expect(statSync(bundle).size).toBeLessThan(512 * 1024);
    expect(code).toMatch(/exports|module\.exports/);
    expect(code).not.toMatch(/^import /m);
    expect(existsSync(`${bundle}.map`)).toBe(true);
  });

  it('leaves @aws-sdk out of the authorizer bundle', () => {
    const template = JSON.parse(readFileSync(join(outdir, `${stack.artifactId}.template.json`), 'utf8')) as {
      Resources: Record<string, { Type: string; Properties: { Code: { S3Key: string } } }>;
    };
    const [, fn] = Object.entries(template.Resources).find(([id, r]) => r.Type === 'AWS::Lambda::Function' && id.includes('AuthorizerFunction'))!;

    const code = readFileSync(join(outdir, `asset.${fn.Properties.Code.S3Key.replace(/\.zip$/, '')}`, 'index.js'), 'utf8');

    expect(code).toMatch(/require\("@aws-sdk\/lib-dynamodb"\)/);
  });
});
