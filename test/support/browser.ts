import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium } from 'playwright-core';

/** Debian's Chromium (`apt-get install chromium`; .ci/run installs it), or CHROMIUM_PATH. */
export const CHROMIUM_PATH = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

/** Where the browser and terminal tests leave their screenshots and pane captures (TEST_ARTIFACTS_DIR). */
export const ARTIFACTS_DIR =
  process.env['TEST_ARTIFACTS_DIR'] ?? fileURLToPath(new URL('../../../test-artifacts/', import.meta.url));

/** A headless Chromium driven by playwright-core. */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `no Chromium at ${CHROMIUM_PATH}: the dashboard tests drive Debian's chromium with playwright-core ` +
        '(apt-get install chromium, as .ci/run does), or set CHROMIUM_PATH',
    );
  }
  await mkdir(ARTIFACTS_DIR, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
}
