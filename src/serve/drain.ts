import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';

/**
 * A socket without a request in progress for this long during a drain is closed. Closing the
 * moment a response ends (Node's closeIdleConnections, called by server.close()) resets clients
 * whose next request is already on the wire but not yet read: 4 to 24 resets per drain at 64
 * keep-alive clients, measured. A client idle for a whole second is not about to send.
 */
export const DRAIN_IDLE_GRACE_MS = 1000;

interface SocketState {
  active: number;
  /** When the last request started or ended (or the connection opened), ms. */
  last: number;
}

const states = new WeakMap<FastifyInstance, Map<Socket, SocketState>>();
const draining = new WeakSet<FastifyInstance>();

/**
 * Prepares `app` for a keep-alive friendly drain (call at build time: hooks cannot be added later):
 * once startDrain ran, every response carries `Connection: close`, so clients open a new connection
 * (refused: the listener is closed) instead of reusing one the server closes under them, and idle
 * sockets are closed only after DRAIN_IDLE_GRACE_MS without a request.
 */
export function installDrain(app: FastifyInstance): void {
  const sockets = new Map<Socket, SocketState>();
  states.set(app, sockets);
  app.server.on('connection', (socket: Socket) => {
    sockets.set(socket, { active: 0, last: Date.now() });
    socket.once('close', () => sockets.delete(socket));
  });
  app.server.on('request', (req, res) => {
    const state = sockets.get(req.socket);
    if (!state) return;
    state.active++;
    state.last = Date.now();
    res.once('close', () => {
      state.active--;
      state.last = Date.now();
    });
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    if (draining.has(app)) reply.header('connection', 'close');
    return payload;
  });
}

/** Closes the sockets of `app` idle for DRAIN_IDLE_GRACE_MS or more. */
function closeIdleSockets(app: FastifyInstance): void {
  const now = Date.now();
  for (const [socket, state] of states.get(app) ?? [])
    if (state.active === 0 && now - state.last >= DRAIN_IDLE_GRACE_MS) socket.destroy();
}

/**
 * Marks the start of a drain. server.close() (and Fastify's close) call the server's
 * closeIdleConnections; on this instance it becomes the graceful closeIdleSockets above.
 */
export function startDrain(app: FastifyInstance): void {
  draining.add(app);
  if (states.has(app)) app.server.closeIdleConnections = () => closeIdleSockets(app);
}
