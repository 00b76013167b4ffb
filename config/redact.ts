/**
 * Secrets kept out of logs, API answers and recorded command lines, in one place:
 * - redactUrl: a URL to be logged or shown, with its credentials removed;
 * - redactText: free text (an error message) with the credentials of every URL in it censored;
 * - redactArgs: a command line with the values of secret-looking options censored as well;
 * - REDACT: the pino `redact` option every logger of the gateway and the hub is built with.
 * One censor, CENSOR, stands wherever a secret was taken out of text.
 */

/** What stands in place of a secret in text. */
export const CENSOR = '***';

/** What redactUrl answers for input it cannot parse as a URL with a host: it might hold credentials it cannot locate. */
export const INVALID_URL = '(invalid url)';

/**
 * A URL fit for a log line: user and password removed (`mqtt://gw:pw@host:1883` → `mqtt://host:1883`),
 * trailing slashes dropped, so two spellings of one server compare equal. Input that is not a URL with a
 * host (`host:8086`, `user:pw@host` without a scheme, garbage) gives INVALID_URL, never the raw text.
 */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return INVALID_URL;
  }
  if (!u.host) return INVALID_URL;
  u.username = '';
  u.password = '';
  return u.toString().replace(/\/+$/, '');
}

/**
 * The userinfo of a `scheme://` URL in text: everything up to the authority's last `@`. The authority ends at
 * `/`, `?`, `#` or white space, so a mail address later in the text is not taken for it.
 */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#]*)@/gi;

/**
 * Text with the credentials of every URL in it censored: the password of `user:password@`
 * (`mqtt://gw:pw@host` → `mqtt://gw:***@host`), and a userinfo without a colon whole, as it may be a token
 * (`https://ghp_x@host` → `https://***@host`). Text without URLs is returned as it is.
 */
export function redactText(text: string): string {
  return text.replace(URL_USERINFO, (_m, scheme: string, info: string) => {
    const colon = info.indexOf(':');
    return colon < 0 ? `${scheme}${CENSOR}@` : `${scheme}${info.slice(0, colon)}:${CENSOR}@`;
  });
}

/** An option whose value is a secret: its name holds password, token or secret (`--influx-password`, `--mes-token`). */
const SECRET_OPTION = /^(--?[a-z-]*(?:password|token|secret)[a-z-]*)(=.*)?$/i;

/**
 * A command line as it may be recorded: the values of secret options censored (`--token=abc` → `--token=***`,
 * `--influx-password hunter2` → `--influx-password ***`) and every other argument through redactText.
 */
export function redactArgs(argv: readonly string[]): string[] {
  const out: string[] = [];
  let hideNext = false;
  for (const a of argv) {
    if (hideNext) {
      out.push(CENSOR);
      hideNext = false;
      continue;
    }
    const m = SECRET_OPTION.exec(a);
    if (m) {
      if (m[2] === undefined) hideNext = true;
      out.push(m[2] === undefined ? a : `${m[1]}=${CENSOR}`);
      continue;
    }
    out.push(redactText(a));
  }
  return out;
}

/** Keys whose values never reach a log line, at the top level or one object down (`{ config: { password } }`). */
const REDACT_PATHS = [
  'password',
  'token',
  'authorization',
  '*.password',
  '*.token',
  '*.tokens',
  '*.privateKey',
  '*.key',
  '*.authorization',
  '*.auth.password',
  'config.influx.password',
];

/** pino's `redact` option for every logger: REDACT_PATHS, censored as `[redacted]`. */
export const REDACT = { paths: REDACT_PATHS, censor: '[redacted]' };
