/** Alerts an operator can act on from the inbox: who, the figures, why it fired, and the command that acts on it. */

export interface Alert {
  readonly subject: string;
  readonly customerId?: string;
  /** What happened, with the figures. */
  readonly body: string;
  /** The CLI command that acts on it. */
  readonly action: string;
  /**
   * Words a customer wrote (a ticket's message), shown after the action and quoted line by line
   * under "The customer wrote:", so nothing in them can pass for the product's own text or action.
   * @default - none
   */
  readonly customerWords?: string;
  /** `page`: someone must act now (the SNS message attribute `severity` lets a pager subscribe to these alone). @default 'notify' */
  readonly severity?: 'page' | 'notify';
}

export interface AlertSink {
  publish(alert: Alert): Promise<void>;
}

/** The e-mail text of an alert; one quoting a customer leads with the action, before anything the customer wrote. */
export function formatAlert(alert: Alert): string {
  const act = [`Act on it: ${alert.action}`, ...(alert.customerId ? [`Customer: ${alert.customerId}`] : [])];
  if (alert.customerWords === undefined) return [alert.body, '', ...act].join('\n');
  const quoted = alert.customerWords.split('\n').map((line) => `> ${line}`);
  return [...act, '', alert.body, '', 'The customer wrote:', ...quoted].join('\n');
}
