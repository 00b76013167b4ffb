/** The report's PDF: the HTML report printed by headless Chromium (playwright-core). */
import { existsSync } from 'node:fs';
import { ErrorCodes, GatewayError } from '../config/errors.js';

/** Prints the report to PDF with headless Chromium (playwright-core), or explains why it cannot. */
export async function printPdf(html: string, out: string, executablePath = process.env.FGW_CHROMIUM ?? '/usr/bin/chromium'): Promise<void> {
  if (!existsSync(executablePath)) {
    throw new GatewayError(
      ErrorCodes.USAGE,
      `--pdf needs Chromium, not found at ${executablePath}: install it (Debian: apt-get install chromium) or set FGW_CHROMIUM to its path; the JSON and HTML reports were written`,
    );
  }
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const page = await browser.newPage();
    await page.setContent(html, { waitUntil: 'load' });
    await page.pdf({ path: out, format: 'A4', printBackground: true, margin: { top: '14mm', bottom: '14mm', left: '12mm', right: '12mm' } });
  } finally {
    await browser.close();
  }
}
