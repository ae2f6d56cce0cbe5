// Graceful stop of the HTTP server (SIGTERM): stop accepting, let requests already running finish, then resolve.
import type { Server, ServerResponse } from 'node:http';
import type { Logger } from './logger.ts';

export interface GracefulServer {
  /** Resolves once every request running when it was called has been answered (or the grace period is over). */
  close(graceMs: number): Promise<void>;
}

/**
 * Tracks the responses in progress on `server`. Node's `server.close()` keeps a keep-alive connection open after its
 * last response, until the client's idle timeout; here every response still to be sent says `Connection: close`, so
 * clients stop reusing the connection and it ends with the response.
 */
export function gracefulServer(server: Server, logger: Logger): GracefulServer {
  const inFlight = new Set<ServerResponse>();
  let closing = false;
  /** Responses finished since close() was called (requests already running, or arriving on open connections). */
  let answeredWhileClosing = 0;
  server.on('request', (_req, res: ServerResponse) => {
    if (closing) res.setHeader('Connection', 'close');
    inFlight.add(res);
    res.once('close', () => {
      inFlight.delete(res);
      if (closing) answeredWhileClosing += 1;
    });
  });
  return {
    close(graceMs) {
      closing = true;
      for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
      let cut = 0;
      let drained: number | undefined;
      return new Promise((resolve) => {
        const started = performance.now();
        const deadline = setTimeout(() => {
          cut = inFlight.size;
          drained = answeredWhileClosing;
          logger.warn({ graceMs, running: cut }, 'requests still running after the grace period; closing their connections');
          server.closeAllConnections();
        }, graceMs);
        deadline.unref();
        server.close(() => {
          clearTimeout(deadline);
          logger.info({ drained: drained ?? answeredWhileClosing, cut, drainMs: Math.round(performance.now() - started) }, 'stopped accepting; requests in progress finished');
          resolve();
        });
        server.closeIdleConnections();
      });
    },
  };
}
