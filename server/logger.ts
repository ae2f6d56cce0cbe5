// Structured JSON logs. Nothing personal goes in: request logs carry the route template, the path only when a route
// answered it without error, never the query string; credentials in headers are redacted should a log call ever
// include them.
import { pino, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'cyberid', pid: process.pid }, // the pid tells a cluster's workers apart
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]'], censor: '[redacted]' },
  });
}
