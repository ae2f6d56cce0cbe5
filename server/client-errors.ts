// Requests Node's HTTP parser refuses before any route sees them (an unknown method, a malformed head, a head too
// large, a request that took too long) get Node's own answer, a bare status line (the head could not be read, so
// neither could its Accept), and the connection closes gently. Node's own handler destroys the socket at once: a
// client still sending its body then gets a reset instead of the answer, and on a kept-alive connection it gets no
// answer at all.
import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';

/** Time allowed for the client to finish sending what it had started before the connection is cut. */
const DRAIN_MS = 2000;

const STATUS: Record<string, string> = {
  HPE_HEADER_OVERFLOW: '431 Request Header Fields Too Large',
  ERR_HTTP_REQUEST_TIMEOUT: '408 Request Timeout',
};

export function answerClientErrors(server: Server): void {
  // Responses still being written, per connection: a status line must not land in the middle of one.
  const answering = new WeakMap<Duplex, number>();
  /** Connections answered here and closing: Node's parser reports an error again for each chunk that still comes. */
  const draining = new WeakSet<Duplex>();
  server.on('request', (_req, res) => {
    const socket = res.socket!;
    answering.set(socket, (answering.get(socket) ?? 0) + 1);
    res.once('close', () => answering.set(socket, answering.get(socket)! - 1));
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (draining.has(socket)) return;
    if (error.code === 'ECONNRESET' || !socket.writable || answering.get(socket)) {
      socket.destroy();
      return;
    }
    draining.add(socket);
    const status = STATUS[error.code ?? ''] ?? '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    setTimeout(() => socket.destroy(), DRAIN_MS).unref();
  });
}
