/** Stripe's secret key and webhook signing secret: from Secrets Manager in AWS, from the environment locally. Never from code. */
import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import * as z from 'zod';

const StripeSecretsSchema = z.object({ secretKey: z.string().startsWith('sk_'), webhookSecret: z.string().startsWith('whsec_') });
export type StripeSecrets = z.infer<typeof StripeSecretsSchema>;

/** `STRIPE_SECRET_ARN` names a JSON secret `{ secretKey, webhookSecret }`; otherwise `STRIPE_SECRET_KEY` and `STRIPE_WEBHOOK_SECRET`. */
export async function loadStripeSecrets(env: NodeJS.ProcessEnv = process.env): Promise<StripeSecrets> {
  if (env.STRIPE_SECRET_ARN) {
    // Cached by Powertools for 5 minutes: a rotated key is picked up without a redeploy.
    const raw = await getSecret(env.STRIPE_SECRET_ARN, { maxAge: 300 });
    // Parsed here, not by Powertools' json transform: JSON.parse's error quotes the text it read, which would put the key in the Lambda's error log.
    const parsed = StripeSecretsSchema.safeParse(parseJson(typeof raw === 'string' ? raw : raw && new TextDecoder().decode(raw)));
    if (!parsed.success) throw new Error('the Stripe secret must be JSON { "secretKey": "sk_…", "webhookSecret": "whsec_…" }');
    return parsed.data;
  }
  const parsed = StripeSecretsSchema.safeParse({ secretKey: env.STRIPE_SECRET_KEY, webhookSecret: env.STRIPE_WEBHOOK_SECRET });
  if (!parsed.success) throw new Error('set STRIPE_SECRET_ARN, or STRIPE_SECRET_KEY (sk_…) and STRIPE_WEBHOOK_SECRET (whsec_…)');
  return parsed.data;
}

function parseJson(text: string | undefined): unknown {
  try {
    return text === undefined ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}
