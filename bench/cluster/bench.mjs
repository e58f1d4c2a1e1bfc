// Cross-node delivery through Redis, next to the same load on one node.
//
//   node bench/cluster/bench.mjs [--receivers 20] [--senders 20] [--rate 100] [--duration 5]
//                                [--flood-rate 9] [--json]
//
// Starts its own redis-server (loopback, free port, no persistence) and
// parley-server processes (PARLEY_SERVER_BIN, default the newest build/*/parley-server;
// build it with -DCMAKE_BUILD_TYPE=Release for representative figures), then runs
// two loads per topology, all clients in this one Node process:
//   latency:    `--rate` messages/s in total from the senders; every receiver records
//               receive time minus send time (one process: one clock) -> p50/p99
//   throughput: every sender at `--flood-rate` messages/s (parley's default limit is
//               10/s per connection) -> messages/s and deliveries/s actually delivered
// Topologies: `single` (one node, no Redis), `single+redis` (one node with REDIS_URL:
// the cost of the round trip through Redis), `cross` (senders on node A, receivers on
// node B). Prints a Markdown table (and JSON lines with --json).

import { ChatClient, eventually, http, startServer } from '../../tests/server/harness.mjs';
import { startRedis } from '../../tests/cluster/cluster.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, arg, i, all) => {
  if (arg.startsWith('--')) pairs.push([arg.slice(2), all[i + 1]?.startsWith('--') || all[i + 1] === undefined ? 'true' : all[i + 1]]);
  return pairs;
}, []));
const RECEIVERS = Number(args.receivers ?? 20);
const SENDERS = Number(args.senders ?? 20);
const RATE = Number(args.rate ?? 100);
const DURATION_S = Number(args.duration ?? 5);
const FLOOD_RATE = Number(args['flood-rate'] ?? 9);

const now = () => Number(process.hrtime.bigint()) / 1e6;  // ms

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function population(senderNode, receiverNode, tag) {
  const room = `bench-${tag}-${Date.now()}`;
  const owner = await ChatClient.login(senderNode, `own${tag}`);
  const created = await owner.request({ type: 'create_room', name: room });
  const id = created.room.id;
  const join = async (node, nick) => {
    const c = await ChatClient.login(node, nick);
    const j = await c.request({ type: 'join', room: id });
    if (j.type !== 'joined') throw new Error(JSON.stringify(j));
    return c;
  };
  const senders = [];
  for (let i = 0; i < SENDERS; i += 1) senders.push(await join(senderNode, `s${tag}${i}`));
  const receivers = [];
  for (let i = 0; i < RECEIVERS; i += 1) receivers.push(await join(receiverNode, `r${tag}${i}`));
  // Wait until the receivers' node counts everyone (presence has settled).
  await eventually(async () => {
    const r = (await http(receiverNode, `/api/rooms/${id}`)).json;
    return (r.room ?? r).members === SENDERS + RECEIVERS;
  }, 20000);
  return { id, owner, senders, receivers };
}

/** Sends `perSecond` messages/s spread over the senders for DURATION_S; returns the stats. */
let phase = 0;
async function load(pop, perSecond) {
  phase += 1;
  const tag = `b${phase}:`;
  const latencies = [];
  let delivered = 0;
  let errors = 0;
  const started = now();
  const listeners = pop.receivers.map((c) => {
    const on = (data) => {
      const f = JSON.parse(data.toString());
      if (f.type === 'message' && f.room === pop.id && f.client_id?.startsWith(tag)) {
        latencies.push(now() - Number(f.client_id.slice(tag.length)));
        delivered += 1;
      } else if (f.type === 'error') errors += 1;
    };
    c.socket.on('message', on);
    return [c, on];
  });
  const interval = 1000 / perSecond;
  let sent = 0;
  const deadline = started + DURATION_S * 1000;
  while (now() < deadline) {
    const due = Math.floor((now() - started) / interval);
    while (sent <= due) {
      const s = pop.senders[sent % pop.senders.length];
      s.socket.send(JSON.stringify({ type: 'send', room: pop.id, text: 'x'.repeat(64), client_id: `${tag}${now()}` }));
      sent += 1;
    }
    await new Promise((r) => setTimeout(r, Math.max(1, interval / 2)));
  }
  const sendEnd = now();
  // Drain: until everything arrived, or 10 s.
  while (delivered < sent * RECEIVERS && now() < sendEnd + 10000) await new Promise((r) => setTimeout(r, 20));
  const elapsed = (Math.max(now(), started) - started) / 1000;
  for (const [c, on] of listeners) c.socket.off('message', on);
  for (const c of [...pop.senders, ...pop.receivers]) { c.frames.length = 0; c.unread.length = 0; }
  latencies.sort((a, b) => a - b);
  const seconds = Math.min(elapsed, DURATION_S + 10);
  return {
    offered: perSecond,
    sent,
    messages_per_s: delivered / RECEIVERS / seconds,
    deliveries_per_s: delivered / seconds,
    lost: sent * RECEIVERS - delivered,
    errors,
    p50_ms: percentile(latencies, 50),
    p99_ms: percentile(latencies, 99),
  };
}

async function scenario(name, senderNode, receiverNode, tag) {
  const pop = await population(senderNode, receiverNode, tag);
  const latency = await load(pop, RATE);
  const throughput = await load(pop, SENDERS * FLOOD_RATE);
  for (const c of [pop.owner, ...pop.senders, ...pop.receivers]) c.socket.terminate();
  return { name, latency, throughput };
}

const results = [];
const single = await startServer();
try {
  results.push(await scenario('single', single, single, 'a'));
} finally { await single.kill(); }

const redis = await startRedis();
const env = { REDIS_URL: redis.url };
const a = await startServer({ env });
const b = await startServer({ env });
try {
  for (const n of [a, b]) await eventually(async () => (await http(n, '/healthz')).status === 200);
  results.push(await scenario('single+redis', a, a, 'b'));
  results.push(await scenario('cross (A→B)', a, b, 'c'));
} finally {
  await a.kill();
  await b.kill();
  await redis.kill();
}

const f = (x) => (Number.isFinite(x) ? x.toFixed(2) : '-');
console.log(`\nload average when done: ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')}`);
console.log(`${SENDERS} senders, ${RECEIVERS} receivers in one room, ${DURATION_S} s per load, 64-byte texts\n`);
console.log('| topology | latency load (msg/s) | p50 ms | p99 ms | flood offered (msg/s) | delivered msg/s | deliveries/s | lost | errors |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of results) {
  console.log(`| ${r.name} | ${r.latency.offered} | ${f(r.latency.p50_ms)} | ${f(r.latency.p99_ms)} | ${r.throughput.offered} | ${f(r.throughput.messages_per_s)} | ${f(r.throughput.deliveries_per_s)} | ${r.latency.lost + r.throughput.lost} | ${r.latency.errors + r.throughput.errors} |`);
}
if (args.json) for (const r of results) console.log(JSON.stringify(r));
