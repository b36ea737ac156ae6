/**
 * Where Ctrl-C comes from: SIGINT in production, a plain function in tests.
 * A source calls `onInterrupt` once per interruption and returns the way to
 * stop listening.
 */
export type InterruptSource = (onInterrupt: () => void) => () => void;

/**
 * Listening replaces Node's default of exiting at once on SIGINT, so the
 * command decides what the first and the second Ctrl-C do.
 */
export const processInterrupts: InterruptSource = (onInterrupt) => {
  process.on('SIGINT', onInterrupt);
  return () => process.off('SIGINT', onInterrupt);
};
