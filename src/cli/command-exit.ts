/**
 * Ends a command with a chosen outcome once it has said why on standard
 * error: `run` in main.ts turns the kind into the exit status instead of
 * printing a stack.
 */
export type ExitKind = 'usage' | 'failure' | 'interrupted';

export class CommandExit extends Error {
  constructor(
    readonly kind: ExitKind,
    reason: string,
  ) {
    super(reason);
    this.name = 'CommandExit';
  }
}

/** 128 + SIGINT (2): what a shell reports for a command stopped by Ctrl-C. */
export const EXIT_INTERRUPTED = 130;
