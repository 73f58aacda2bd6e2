/** Alerts an operator can act on from the inbox: who, the figures, why it fired, and the command that acts on it. */

export interface Alert {
  readonly subject: string;
  readonly customerId?: string;
  /** What happened, with the figures. */
  readonly body: string;
  /** The CLI command that acts on it. */
  readonly action: string;
  /** `page`: someone must act now (the SNS message attribute `severity` lets a pager subscribe to these alone). @default 'notify' */
  readonly severity?: 'page' | 'notify';
}

export interface AlertSink {
  publish(alert: Alert): Promise<void>;
}

/** The e-mail text of an alert. */
export function formatAlert(alert: Alert): string {
  return [alert.body, '', `Act on it: ${alert.action}`, ...(alert.customerId ? [`Customer: ${alert.customerId}`] : [])].join('\n');
}
