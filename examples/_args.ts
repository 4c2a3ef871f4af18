/**
 * The examples' command lines, checked alike: each example names the flags and how many
 * positional arguments it takes, and anything else (a typo, or `--gpu` where the example has no
 * GPU path) prints the usage and exits with 2 instead of being ignored. A problem for the user
 * to fix (a file, a folder, no GPU) is one line and exit code 1; a bug keeps its stack trace.
 *
 * ```ts ignore
 * import { runExample } from "./_args.ts";
 * if (import.meta.main) {
 *   await runExample(main, { usage: "deno run -A examples/mnist_mlp.ts [--gpu]", flags: ["--gpu"] });
 * }
 * ```
 *
 * @module
 */
import { WebGpuUnavailableError } from "../shaders/mod.ts";

/** What an example's command line takes. */
export interface ArgSpec {
  /** The usage line, as the example's "Run:" line: `deno run -A examples/mnist_mlp.ts [--gpu]`. */
  usage: string;
  /** The flags it knows (`--gpu`); `-h` and `--help` print the usage. */
  flags?: readonly string[];
  /** How many positional arguments it takes at most (default 0). */
  positionals?: number;
}

/** A bad command line: the message ends with the usage; the command exits with 2. */
export class UsageError extends RangeError {}

/**
 * The positional arguments of `args`, after checking them against `spec`. Throws a
 * {@linkcode UsageError} for an unknown flag or too many positional arguments. A negative
 * number (`-1`) is a positional argument, not a flag.
 */
export function checkArgs(args: readonly string[], spec: ArgSpec): string[] {
  const { usage, flags = [], positionals = 0 } = spec;
  const isFlag = (a: string) => a.startsWith("-") && a !== "-" && !/^-[0-9.]/.test(a);
  const unknown = args.find((a) => isFlag(a) && !flags.includes(a));
  if (unknown !== undefined) {
    throw new UsageError(`Unknown option ${JSON.stringify(unknown)} (usage: ${usage})`);
  }
  const rest = args.filter((a) => !isFlag(a));
  if (rest.length > positionals) {
    const most = positionals === 0
      ? "no arguments"
      : `at most ${positionals} argument${positionals === 1 ? "" : "s"}`;
    throw new UsageError(`Expected ${most}, got ${rest.length} (usage: ${usage})`);
  }
  return rest;
}

/**
 * Runs an example's `main` with the command line `args` (`Deno.args`): `--help` prints the
 * usage, a bad command line its error and exit code 2, a problem for the user to fix its
 * message and exit code 1.
 */
export async function runExample(
  main: (args: readonly string[]) => Promise<void>,
  spec: ArgSpec,
  args: readonly string[] = Deno.args,
): Promise<void> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(`usage: ${spec.usage}`);
    return;
  }
  try {
    checkArgs(args, spec);
    await main(args);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(e.message);
      Deno.exit(2);
    }
    if (!isUserError(e)) throw e;
    console.error(e.message);
    Deno.exit(1);
  }
}

/** A missing or unreadable file or folder, or no GPU: the message says what to fix. */
function isUserError(e: unknown): e is Error {
  return e instanceof WebGpuUnavailableError ||
    (Object.values(Deno.errors) as ErrorConstructor[]).some((c) => e instanceof c);
}
