/** The operator CLI: `npm run cli -- <command>` (or `npx api-billing <command>`). */
import { Command, CommanderError } from 'commander';
import { registerBillingCommands } from './commands/billing.ts';
import { registerCountingCommands, registerUsageCommand } from './commands/counting.ts';
import { registerDlqCommand } from './commands/dlq.ts';
import { registerReconcileCommand } from './commands/reconcile.ts';
import { registerExperimentCommands } from './commands/experiment.ts';
import { registerReportCommand } from './commands/report.ts';
import { registerCustomerCommands } from './commands/customers.ts';
import { registerTicketCommands } from './commands/tickets.ts';
import { registerGuardrailCommands } from './commands/guardrails.ts';
import { CliError, connectLocalStack, type CliContext } from './context.ts';
import { connectDeployedStack } from './deployed.ts';

export function buildProgram(connectTo?: () => Promise<CliContext>): Command {
  const program = new Command('api-billing')
    .description(
      'Operate api-billing: customers, keys, tiers, billing, guardrails. Works against the local stack started by `npm start`, or a deployed one with --stack.',
    )
    .option('--stack <name>', 'a deployed CloudFormation stack (AWS credentials and region from the environment)');
  const connect =
    connectTo ?? (() => (program.opts<{ stack?: string }>().stack ? connectDeployedStack(program.opts<{ stack: string }>().stack) : connectLocalStack()));
  registerCustomerCommands(program, connect);
  registerBillingCommands(program, connect);
  registerCountingCommands(program, connect);
  registerUsageCommand(program, connect);
  registerReconcileCommand(program, connect);
  registerExperimentCommands(program, connect);
  registerReportCommand(program, connect);
  registerDlqCommand(program, connect);
  registerTicketCommands(program, connect);
  registerGuardrailCommands(program, connect);
  return program;
}

/** Runs the CLI; an expected failure is one line on stderr and exit code 1. */
export async function main(argv: readonly string[] = process.argv): Promise<void> {
  // Node.js 20 is this project's development runtime; Lambda runs 22. The lockfile pins SDK versions that support both.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  try {
    await buildProgram().exitOverride().parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has printed its one-line message already; help and version exit 0.
      process.exitCode = error.exitCode;
      return;
    }
    const message = error instanceof Error ? error.message : String(error);
    console.error(`error: ${error instanceof CliError ? message : `unexpected failure: ${message}`}`);
    process.exitCode = 1;
  }
}

if (require.main === module) void main();
