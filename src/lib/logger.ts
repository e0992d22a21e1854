import { pino, type Logger } from 'pino';

export type { Logger };

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/** Structured logs on stderr, synchronous so nothing is lost when the daemon dies. */
export function createLogger(level: LogLevel = 'info'): Logger {
  return pino(
    {
      level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ fd: 2, sync: true }),
  );
}

/** A logger that drops everything: for unit tests of code that takes a logger. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
