/**
 * Stripe's API keys and webhook signing secret: from Secrets Manager in AWS, from the environment locally. Never from code.
 * A key may be a secret key (`sk_…`) or a restricted key (`rk_…`) holding only what its function calls (README, Stripe keys).
 */
import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import * as z from 'zod';

const StripeApiKeySchema = z.string().regex(/^[sr]k_/);
const StripeSecretsSchema = z.object({ secretKey: StripeApiKeySchema, webhookSecret: z.string().startsWith('whsec_') });
export type StripeSecrets = z.infer<typeof StripeSecretsSchema>;
/** The upgrade route's own secret: a restricted key only, so a full secret key pasted there by mistake is refused, not used. */
const CheckoutSecretSchema = z.object({ secretKey: z.string().startsWith('rk_') });

/** `STRIPE_SECRET_ARN` names a JSON secret `{ secretKey, webhookSecret }`; otherwise `STRIPE_SECRET_KEY` and `STRIPE_WEBHOOK_SECRET`. */
export async function loadStripeSecrets(env: NodeJS.ProcessEnv = process.env): Promise<StripeSecrets> {
  if (env.STRIPE_SECRET_ARN) {
    const parsed = StripeSecretsSchema.safeParse(await readJsonSecret(env.STRIPE_SECRET_ARN));
    if (!parsed.success) throw new Error('the Stripe secret must be JSON { "secretKey": "sk_… or rk_…", "webhookSecret": "whsec_…" }');
    return parsed.data;
  }
  const parsed = StripeSecretsSchema.safeParse({ secretKey: env.STRIPE_SECRET_KEY, webhookSecret: env.STRIPE_WEBHOOK_SECRET });
  if (!parsed.success) throw new Error('set STRIPE_SECRET_ARN, or STRIPE_SECRET_KEY (sk_… or rk_…) and STRIPE_WEBHOOK_SECRET (whsec_…)');
  return parsed.data;
}

/**
 * The customer-facing key, for the Stripe calls any customer can cause: `POST /billing/upgrade` starts Checkout,
 * `POST|DELETE /billing/downgrade` sets or lifts the customer's own subscription's cancellation at period end,
 * `POST /billing/portal` opens a customer portal session, and `GET /usage` lists the customer's invoices.
 * `STRIPE_CHECKOUT_SECRET_ARN` names a JSON secret `{ "secretKey": "rk_…" }` (a restricted key with Checkout Sessions,
 * Subscriptions and Customer portal write and Invoices read, nothing else); there is no fallback to the sync's wider key. Locally, where
 * the one test-mode or local Stripe key serves every function, `STRIPE_SECRET_KEY`.
 */
export async function loadCheckoutKey(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (env.STRIPE_CHECKOUT_SECRET_ARN) {
    const parsed = CheckoutSecretSchema.safeParse(await readJsonSecret(env.STRIPE_CHECKOUT_SECRET_ARN));
    if (!parsed.success)
      throw new Error(
        'the customer-facing Stripe secret must be JSON { "secretKey": "rk_…" }: a restricted key with Checkout Sessions, Subscriptions and Customer portal write and Invoices read only (README, Stripe keys)',
      );
    return parsed.data.secretKey;
  }
  const parsed = StripeApiKeySchema.safeParse(env.STRIPE_SECRET_KEY);
  if (!parsed.success) throw new Error('set STRIPE_CHECKOUT_SECRET_ARN, or STRIPE_SECRET_KEY (sk_… or rk_…)');
  return parsed.data;
}

/** A secret's JSON, or undefined when it is not JSON. */
async function readJsonSecret(arn: string): Promise<unknown> {
  // Cached by Powertools for 5 minutes: a rotated key is picked up without a redeploy.
  const raw = await getSecret(arn, { maxAge: 300 });
  // Parsed here, not by Powertools' json transform: JSON.parse's error quotes the text it read, which would put the key in the Lambda's error log.
  return parseJson(typeof raw === 'string' ? raw : raw && new TextDecoder().decode(raw));
}

function parseJson(text: string | undefined): unknown {
  try {
    return text === undefined ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}
