import type { Command } from 'commander';
import { conclude, EXPERIMENT_PLAN, launch, pickCohort, startBeta, type PhaseChange } from '../../lambdas/core/experiment.ts';
import { CliError, type CliContext } from '../context.ts';
import { printRecord } from '../output.ts';

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

/** `experiment start|launch|status|conclude`: the seed's rollout (beta cohort, full launch, conclusion), each step audited. */
export function registerExperimentCommands(program: Command, connect: () => Promise<CliContext>): void {
  const experiment = program.command('experiment').description(`run the experiment ${EXPERIMENT_PLAN.id}: beta cohort, launch, status, conclusion`);

  /** Applies a phase change if the phase is still the one it was computed from, and audits it. */
  async function apply(
    context: CliContext,
    change: PhaseChange,
    from: Parameters<CliContext['billing']['state']['putExperiment']>[1],
    action: string,
    reason: string,
  ) {
    if (!change.ok) throw new CliError(change.reason);
    if (!(await context.billing.state.putExperiment(change.state, from)))
      throw new CliError('the experiment changed meanwhile: run `experiment status` and try again');
    await context.billing.state.audit({
      action,
      by: context.operator,
      reason,
      at: Date.now(),
      details: { phase: change.state.phase, cohort: change.state.cohort },
    });
    return change.state;
  }

  experiment
    .command('start')
    .description('start the beta: only the cohort is billed in Stripe; every other customer is metered and shadow billed')
    .option('--beta <n>', 'a random pick of n active customers', String(EXPERIMENT_PLAN.betaCohortSize))
    .option('--customers <ids>', 'the cohort by name, comma-separated (instead of a random pick)')
    .option('--reason <reason>', 'why (kept in the audit log)', 'beta launch')
    .action(async (options: { beta: string; customers?: string; reason: string }) => {
      const size = Number(options.beta);
      if (!Number.isSafeInteger(size) || size < 1) throw new CliError(`--beta must be a positive whole number, not "${options.beta}"`);
      const context = await connect();
      const customers = await context.store.listCustomers();
      let cohort: string[];
      if (options.customers) {
        cohort = options.customers
          .split(',')
          .map((id) => id.trim())
          .filter(Boolean);
        const unknown = cohort.filter((id) => !customers.some((c) => c.customerId === id));
        if (unknown.length) throw new CliError(`no customer ${unknown.join(', ')}`);
      } else {
        cohort = pickCohort(
          customers.filter((c) => c.status === 'active' && c.stripeCustomerId).map((c) => c.customerId),
          size,
        );
      }
      const current = await context.billing.experiment();
      const state = await apply(context, startBeta(current, cohort, Date.now()), 'planned', 'experiment-beta-started', options.reason);
      console.log(`beta started ${iso(state.betaStartedAt)} with ${state.cohort.length} customers: ${state.cohort.join(', ')}`);
    });

  experiment
    .command('launch')
    .description('bill every customer from now on (the beta usage of customers outside the cohort stays unbilled)')
    .option('--reason <reason>', 'why (kept in the audit log)', 'full launch')
    .action(async (options: { reason: string }) => {
      const context = await connect();
      const state = await apply(context, launch(await context.billing.experiment(), Date.now()), 'beta', 'experiment-launched', options.reason);
      console.log(`launched ${iso(state.launchedAt)}: every customer is billed from now on`);
    });

  experiment
    .command('conclude')
    .description('end the experiment and record its verdict')
    .option('--reason <reason>', 'why (kept in the audit log)', 'experiment concluded')
    .action(async (options: { reason: string }) => {
      const context = await connect();
      const current = await context.billing.experiment();
      const state = await apply(context, conclude(current, Date.now()), current?.phase ?? 'planned', 'experiment-concluded', options.reason);
      const report = await context.billing.experimentReport();
      console.log(`concluded ${iso(state.concludedAt)}: ${report.verdict.overall} (${report.verdict.reason})`);
    });

  experiment
    .command('status')
    .description('the phase, the cohort and the verdict so far')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const context = await connect();
      const state = await context.billing.experiment();
      const report = await context.billing.experimentReport();
      if (options.json)
        return void console.log(
          JSON.stringify(
            { state: state ?? { id: EXPERIMENT_PLAN.id, phase: 'planned', cohort: [] }, verdict: report.verdict, criteria: report.criteria },
            null,
            2,
          ),
        );
      printRecord(
        {
          experiment: EXPERIMENT_PLAN.id,
          phase: state?.phase ?? 'planned',
          cohort: state?.cohort.length ? `${state.cohort.length}: ${state.cohort.join(', ')}` : 'none',
          'beta started': iso(state?.betaStartedAt),
          launched: iso(state?.launchedAt),
          concluded: iso(state?.concludedAt),
          verdict: `${report.verdict.overall}: ${report.verdict.reason}`,
        },
        false,
      );
      for (const c of report.criteria)
        console.log(`${c.verdict.padEnd(12)} ${c.kind === 'failure' ? 'failure if' : 'success if'} ${c.description}: ${c.reason}`);
    });
}
