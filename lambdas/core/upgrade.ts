/** When and how to offer an upgrade: at 80% and 100% of the Free quota, and on Pro once Enterprise would cost less. */
import type { BillingConfig, TierName } from './config.ts';
import { estimateBill } from './pricing.ts';

export interface UpgradePrompt {
  readonly level: 'approaching-quota' | 'quota-reached' | 'enterprise-cheaper';
  readonly targetTier: TierName;
  readonly message: string;
}

const QUOTA_WARNING_PERCENT = 80;

export function upgradePrompt(tier: TierName, calls: number, config: Pick<BillingConfig, 'tiers'>): UpgradePrompt | null {
  const tierConfig = config.tiers[tier];
  if (tierConfig.pricing === 'free') {
    const used = Math.floor((calls * 100) / tierConfig.monthlyQuota);
    if (used >= 100)
      return {
        level: 'quota-reached',
        targetTier: 'pro',
        message: `You have used all ${tierConfig.monthlyQuota} free calls this month. Upgrade to Pro to keep calling.`,
      };
    if (used >= QUOTA_WARNING_PERCENT)
      return {
        level: 'approaching-quota',
        targetTier: 'pro',
        message: `You have used ${used}% of this month's ${tierConfig.monthlyQuota} free calls. Upgrade to Pro before you run out.`,
      };
    return null;
  }
  if (tier === 'pro') {
    const pro = estimateBill('pro', calls, config).totalCents;
    const enterprise = estimateBill('enterprise', calls, config).totalCents;
    if (enterprise < pro)
      return {
        level: 'enterprise-cheaper',
        targetTier: 'enterprise',
        message: `At this month's volume Enterprise would cost $${(enterprise / 100).toFixed(2)} instead of $${(pro / 100).toFixed(2)}.`,
      };
  }
  return null;
}
