/**
 * Headless Chromium for the browser tests: CHROMIUM_PATH when set (a browser of one's own), else
 * the binary inside the npm package @sparticuz/chromium (unpacked to the temp folder, no network).
 * Only its binary is used, not its serverless flags: those turn off web security, which the
 * tests rely on.
 * @module
 */
import packagedChromium from '@sparticuz/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--no-zygote',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function chromiumPath(): Promise<string> {
  return Deno.env.get('CHROMIUM_PATH') ?? await packagedChromium.executablePath();
}
