/**
 * The scheduling the periodic background tasks share (reconciliation, retention): never two runs at
 * once (runNow joins the run in flight), a timer that never keeps the process alive, and a stop that
 * disarms the timer and waits for the run in flight. What a run does, and its status, stay with the task.
 */
export interface PeriodicSchedule<T> {
  /** Arms the first tick after `firstDelayMs` (and clears an earlier stop). */
  start(firstDelayMs: number): void;
  /** Runs now, or joins the run in flight. */
  runNow(): Promise<T>;
  /** No more ticks. `interrupt` (e.g. an abort) is called before waiting for the run in flight. */
  stop(interrupt?: () => void): Promise<void>;
  /** True from stop() until the next start(): a long run checks it to end early. */
  readonly stopped: boolean;
  readonly running: boolean;
  /** When the timer fires next; undefined while a tick is being handled or after stop(). */
  readonly nextRunAt: Date | undefined;
}

export interface PeriodicScheduleOptions<T> {
  /** One run. It should settle its own errors: a rejection only reaches runNow's callers. */
  run: () => Promise<T>;
  intervalMs: number;
  /**
   * What a timer tick does, resolving with the delay until the next tick. Default: run, then
   * intervalMs. A rejected tick is followed by the next one after intervalMs.
   */
  tick?: (runNow: () => Promise<T>) => Promise<number>;
}

/**
 * `task` whose stop() also closes `owned` (e.g. a Dataverse client the task created for itself),
 * after the task stopped; `task` itself when it owns nothing.
 */
export function closingOnStop<T extends { stop(): Promise<void> }>(task: T, owned: { close(): Promise<void> } | undefined): T {
  if (!owned) return task;
  const stop = task.stop.bind(task);
  return Object.assign(task, {
    async stop() {
      await stop();
      await owned.close();
    },
  });
}

export function createPeriodicSchedule<T>(opts: PeriodicScheduleOptions<T>): PeriodicSchedule<T> {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<T> | undefined;
  let stopped = false;
  let nextRunAt: Date | undefined;

  const runNow = (): Promise<T> => {
    running ??= opts.run().finally(() => (running = undefined));
    return running;
  };
  const tick = opts.tick ?? (async (run: () => Promise<T>) => {
    await run();
    return opts.intervalMs;
  });
  const arm = (delayMs: number): void => {
    if (stopped) return;
    nextRunAt = new Date(Date.now() + delayMs);
    timer = setTimeout(() => {
      timer = undefined;
      nextRunAt = undefined;
      tick(runNow).then(arm, () => arm(opts.intervalMs));
    }, delayMs);
    timer.unref();
  };

  return {
    start(firstDelayMs) {
      stopped = false;
      arm(firstDelayMs);
    },
    runNow,
    async stop(interrupt) {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      nextRunAt = undefined;
      interrupt?.();
      await running?.catch(() => undefined);
    },
    get stopped() {
      return stopped;
    },
    get running() {
      return running !== undefined;
    },
    get nextRunAt() {
      return nextRunAt;
    },
  };
}
