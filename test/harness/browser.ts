/** Debian's Chromium, headless, driven by playwright-core (no browser download); playwright gives each launch a fresh profile. */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Where the dashboard tests write their screenshots. */
export const SCREENSHOTS = resolve(__dirname, '../../test-output/screenshots');

/**
 * A dashboard test's local stack (DynamoDB Local, the local Stripe, the hourly sync out of the way, all
 * on the test's clock) and headless Chromium, started together; `name` keeps its files and tables apart.
 */
export async function startDashboardStack(name: string, now: () => number): Promise<[LocalStack, Browser]> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return Promise.all([
    startLocalStack({
      dir: mkdtempSync(join(tmpdir(), `${name}-`)),
      dynamoDbEndpoint: process.env.TEST_DYNAMODB_ENDPOINT,
      tablePrefix: `${name}${randomUUID().slice(0, 8)}-`,
      stripe: 'local',
      syncIntervalMs: 3_600_000,
      now,
    }),
    launchChromium(),
  ]);
}
