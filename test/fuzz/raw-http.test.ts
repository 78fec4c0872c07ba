// Hostile HTTP below the JSON layer, over a raw socket: broken request lines, oversized headers,
// chunked bodies over the limit, lying Content-Length. Each gets a 4xx with a JSON error (400, 413 or
// 431 measured) and the server keeps serving.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FuzzServer, startFuzzServer } from './harness.js';

let server: FuzzServer;

beforeAll(async () => {
  server = await startFuzzServer();
}, 60_000);

afterAll(async () => {
  await server?.close();
});

/** Sends raw bytes, half-closes, and resolves with everything the server sent before closing. */
function raw(bytes: string | Buffer): Promise<string> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    let received = '';
    const socket = connect(Number(port), hostname, () => {
      socket.end(bytes);
    });
    socket.on('data', (d) => {
      received += d.toString('latin1');
    });
    socket.on('error', () => {}); // a reset after the answer is fine
    socket.on('close', () => resolve(received));
    setTimeout(() => {
      socket.destroy();
      reject(new Error(`connection still open after 10 s; received: ${received.slice(0, 200)}`));
    }, 10_000);
  });
}

const json = '{"pixels":[1,2,3]}';
const CASES: Record<string, string | Buffer> = {
  'garbage request line': 'HELLO\r\n\r\n',
  'HTTP/1.1 without a Host header': 'GET /healthz HTTP/1.1\r\n\r\n',
  'binary noise': Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 131 + 7) % 256)),
  'bad HTTP version': 'POST /api/predict HTTP/9.9\r\nHost: x\r\n\r\n',
  'header of 100 kB': `POST /api/predict HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(100_000)}\r\n\r\n`,
  '2000 headers': `POST /api/predict HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 2000 }, (_, i) => `X-${i}: 1\r\n`).join('')}\r\n`,
  'chunked body over the 2 MiB limit': `POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${'100000\r\n'.concat('a'.repeat(0x100000), '\r\n').repeat(3)}0\r\n\r\n`,
  'Content-Length over the limit': `POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 999999999\r\n\r\n{`,
  'Content-Length shorter than the body': `POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n${json}`,
  'Content-Length and chunked together': `POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
  'negative Content-Length': `POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: -1\r\n\r\n${json}`,
  'bad chunk size': `POST /api/feedback HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`,
  'NUL in the path': `POST /api/pre\u0000dict HTTP/1.1\r\nHost: x\r\n\r\n`,
  'bare LF line ends': `POST /api/predict HTTP/1.1\nHost: x\nContent-Type: application/json\nContent-Length: ${json.length}\n\n${json}`,
  'request smuggling attempt': `POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${json.length + 40}\r\n\r\n${json}GET /admin HTTP/1.1\r\nHost: x\r\n\r\n`,
};

describe('hostile HTTP on a raw socket', () => {
  it.each(Object.keys(CASES))('%s: a 4xx with a JSON error, never a 5xx', async (name) => {
    const answer = await raw(CASES[name]);
    const statuses = [...answer.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
    for (const status of statuses) {
      expect(status, `${name}: ${answer.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
      expect(status, `${name}: ${answer.slice(0, 300)}`).toBeLessThan(500);
    }
    expect(statuses.length, `${name}: no answer`).toBeGreaterThan(0);
    // The first answer's body, by its Content-Length: a JSON error message.
    const head = answer.slice(0, answer.indexOf('\r\n\r\n'));
    const length = Number(/content-length: (\d+)/i.exec(head)?.[1]);
    const body = answer.slice(head.length + 4, head.length + 4 + length);
    expect(typeof JSON.parse(body).error, `${name}: ${answer.slice(0, 300)}`).toBe('string');
    // Still serving.
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });
});
