/**
 * Argument parsing for the client commands (deploy, create, invoke, status). Pure and small: no
 * dependency, and unlike node:util parseArgs it keeps negative numbers (`deposit -5`) positional.
 */

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface ParsedArgs {
  command: string | undefined;
  positionals: string[];
  options: Map<string, string | true>;
}

/** Options that take a value; the rest of the known ones are flags. */
export const VALUE_OPTIONS = new Set(['nats', 'prefix', 'data', 'key', 'timeout-ms', 'interval-ms']);
export const FLAG_OPTIONS = new Set(['help', 'once']);
const SHORT: Record<string, string> = { h: 'help' };
const NUMBER = /^-(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/**
 * `argv` without node and script. The first positional is the command. `--name value`,
 * `--name=value`, `-h`; `--` ends options; `-5`, `-0.5` are positionals (negative numbers).
 */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  const positionals: string[] = [];
  const options = new Map<string, string | true>();
  let onlyPositionals = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (onlyPositionals || a === '-' || !a.startsWith('-') || NUMBER.test(a)) {
      positionals.push(a);
      continue;
    }
    if (a === '--') {
      onlyPositionals = true;
      continue;
    }
    let name: string;
    let value: string | undefined;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      if (eq >= 0) value = a.slice(eq + 1);
    } else {
      const s = SHORT[a.slice(1)];
      if (!s) throw new UsageError(`unknown option ${a}`);
      name = s;
    }
    if (VALUE_OPTIONS.has(name)) {
      if (value === undefined) {
        const next = argv[i + 1];
        if (next === undefined) throw new UsageError(`option --${name} needs a value`);
        value = next;
        i++;
      }
      options.set(name, value);
    } else if (FLAG_OPTIONS.has(name)) {
      if (value !== undefined) throw new UsageError(`option --${name} takes no value`);
      options.set(name, true);
    } else {
      throw new UsageError(`unknown option --${name}`);
    }
  }
  const [command, ...rest] = positionals;
  return { command, positionals: rest, options };
}

/** A command-line argument as JSON, or as the plain string when it is not JSON (`alice` -> "alice"). */
export function parseJsonArg(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const v = args.options.get(name);
  return typeof v === 'string' ? v : undefined;
}

/** A positive integer option (a unit in its name, e.g. --timeout-ms). */
export function intOption(args: ParsedArgs, name: string, min = 1, max = 2 ** 31 - 1): number | undefined {
  const v = stringOption(args, name);
  return v === undefined ? undefined : parseIntOption(name, v, min, max);
}

/** The value of integer option `--name` (`dflt` when absent); a UsageError names the bounds. */
export function parseIntOption(name: string, value: string | undefined, min: number, max: number, dflt?: number): number {
  if (value === undefined && dflt !== undefined) return dflt;
  const n = Number(value);
  if (value === undefined || !/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** Rejects options the command does not take. */
export function allowOnly(args: ParsedArgs, allowed: readonly string[]): void {
  for (const name of args.options.keys()) {
    if (!allowed.includes(name)) throw new UsageError(`${args.command} does not take --${name}`);
  }
}
