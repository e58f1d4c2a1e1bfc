// Persistence through the real server: rooms and history in the SQLite file
// survive a restart and a kill -9, resume with `since` serves the gap, search,
// retention, and what a bad database or a full disk does.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChatClient, http, serverBinary, startServer } from './harness.mjs';

// The server's default: the durability promise is about this interval.
const FLUSH_INTERVAL_MS = 50;

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-persistence-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));
let files = 0;
const newDb = () => path.join(scratch, `chat-${++files}.db`);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Every message of `room` over REST, paging backwards with `before`; oldest first. */
async function fullHistory(server, room) {
  const pages = [];
  let before = '';
  for (;;) {
    const r = await http(server, `/api/rooms/${room}/messages?limit=200${before}`);
    assert.equal(r.status, 200, r.text);
    if (r.json.messages.length === 0) break;
    pages.unshift(r.json.messages);
    if (r.json.messages[0].seq === 1) break;
    before = `&before=${r.json.messages[0].seq}`;
  }
  return pages.flat();
}

async function createRoom(server, name) {
  const r = await http(server, '/api/rooms', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  assert.equal(r.status, 201, r.text);
  return r.json.room;
}

async function loginAndJoin(server, nick, room, join = {}) {
  const client = await ChatClient.login(server, nick);
  const joined = await client.request({ type: 'join', room, ...join });
  assert.equal(joined.type, 'joined', JSON.stringify(joined));
  return { client, joined };
}

describe('restart', () => {
  test('rooms, seq, tombstones and history come back; since serves the gap', async () => {
    const db = newDb();
    let server = await startServer({ env: { PARLEY_DB: db } });
    const room = await createRoom(server, 'Board games');
    const { client: alice } = await loginAndJoin(server, 'p_alice', room.id);
    const { client: bob, joined: bobJoined } = await loginAndJoin(server, 'p_bob', room.id);
    const sent = [];
    for (let i = 1; i <= 12; i++) {
      const author = i % 2 ? alice : bob;
      author.send({ type: 'send', room: room.id, text: `move ${i} pawn`, client_id: `m${i}` });
      sent.push(await author.next((f) => f.type === 'message' && f.client_id === `m${i}`));
    }
    assert.deepEqual(sent.map((m) => m.seq), [...Array(12).keys()].map((i) => i + 1));
    alice.send({ type: 'delete', room: room.id, seq: 3 });
    await bob.next((f) => f.type === 'deleted' && f.seq === 3);
    const bobSaw = sent[7].seq;  // bob's view stops here: he "loses" his connection
    const epoch = bobJoined.epoch;
    assert.match(epoch, /^[0-9a-f]+$/);

    const stopped = await server.stop('SIGTERM');
    assert.equal(stopped.code, 0, server.stderr());
    server = await startServer({ env: { PARLEY_DB: db } });
    try {
      // The room is back with its name and id, and the lineage is unchanged.
      const listed = (await http(server, '/api/rooms')).json.rooms;
      assert.ok(listed.some((r) => r.id === room.id && r.name === 'Board games'), JSON.stringify(listed));

      const { client: alice2 } = await loginAndJoin(server, 'p_alice', room.id);
      alice2.send({ type: 'send', room: room.id, text: 'after the restart', client_id: 'm13' });
      const next = await alice2.next((f) => f.type === 'message' && f.client_id === 'm13');
      assert.equal(next.seq, 13, 'seq continues from the last stored value');

      const { joined } = await loginAndJoin(server, 'p_bob', room.id, { since: bobSaw, epoch });
      assert.equal(joined.complete, true);
      assert.equal(joined.epoch, epoch);
      assert.deepEqual(joined.messages.map((m) => m.seq), [9, 10, 11, 12, 13]);
      assert.deepEqual(joined.messages.map((m) => m.text),
        ['move 9 pawn', 'move 10 pawn', 'move 11 pawn', 'move 12 pawn', 'after the restart']);

      const history = await fullHistory(server, room.id);
      assert.deepEqual(history.map((m) => m.seq), [...Array(13).keys()].map((i) => i + 1));
      const tombstone = history.find((m) => m.seq === 3);
      assert.equal(tombstone.deleted, true, JSON.stringify(tombstone));
      assert.equal(tombstone.text, undefined);
      assert.equal(history.find((m) => m.seq === 4).text, 'move 4 pawn');

      // History pages backwards across everything stored, over the protocol too.
      const page = await alice2.request({ type: 'history', room: room.id, before: 6, limit: 3 });
      assert.deepEqual(page.messages.map((m) => m.seq), [3, 4, 5]);
      assert.equal(page.complete, true);
    } finally {
      await server.kill();
    }
  });

  test('after a restart only the author may delete: a freed nickname proves nothing', async () => {
    const db = newDb();
    let server = await startServer({ env: { PARLEY_DB: db } });
    const room = await createRoom(server, 'Authorship');
    const { client: alice } = await loginAndJoin(server, 'a_alice', room.id);
    const aliceToken = alice.welcome.token;
    alice.send({ type: 'send', room: room.id, text: 'mine alone', client_id: 'a1' });
    const mine = await alice.next((f) => f.type === 'message' && f.client_id === 'a1');
    alice.send({ type: 'send', room: room.id, text: 'also mine', client_id: 'a2' });
    const alsoMine = await alice.next((f) => f.type === 'message' && f.client_id === 'a2');
    alice.close();

    assert.equal((await server.stop('SIGTERM')).code, 0, server.stderr());
    // No token or digest of one in plain sight: the file keeps an identity only.
    const file = fs.readFileSync(db);
    assert.ok(!file.includes(Buffer.from(aliceToken)), 'the resume token is not stored');
    server = await startServer({ env: { PARLEY_DB: db } });
    try {
      // An impostor takes the freed nickname and tries to delete; so does a witness.
      const { client: impostor } = await loginAndJoin(server, 'a_alice', room.id);
      const refused = await impostor.request({ type: 'delete', room: room.id, seq: mine.seq });
      assert.equal(refused.type, 'error', JSON.stringify(refused));
      assert.equal(refused.code, 'forbidden');
      const { client: witness } = await loginAndJoin(server, 'a_witness', room.id);
      const alsoRefused = await witness.request({ type: 'delete', room: room.id, seq: mine.seq });
      assert.equal(alsoRefused.code, 'forbidden');
      let history = await fullHistory(server, room.id);
      assert.equal(history.find((m) => m.seq === mine.seq).text, 'mine alone');
      impostor.close();
      witness.close();
      await sleep(50);

      // Another restart: the real author comes back with its token and may delete.
      assert.equal((await server.stop('SIGTERM')).code, 0, server.stderr());
      server = await startServer({ env: { PARLEY_DB: db } });
      const author = await ChatClient.connect(server);
      author.send({ type: 'hello', nick: 'a_alice', token: aliceToken });
      const welcome = await author.next((f) => f.type === 'welcome' || f.type === 'error');
      assert.equal(welcome.type, 'welcome', JSON.stringify(welcome));
      assert.equal(welcome.token, aliceToken, 'a free nickname is taken with the offered token');
      const joined = await author.request({ type: 'join', room: room.id });
      assert.equal(joined.type, 'joined');
      author.send({ type: 'delete', room: room.id, seq: alsoMine.seq });
      const outcome = await author.next((f) => f.type === 'error' || (f.type === 'deleted' && f.seq === alsoMine.seq));
      assert.equal(outcome.type, 'deleted', JSON.stringify(outcome));
      history = await fullHistory(server, room.id);
      assert.equal(history.find((m) => m.seq === alsoMine.seq).deleted, true);
      assert.equal(history.find((m) => m.seq === mine.seq).text, 'mine alone');
      author.close();
    } finally {
      await server.kill();
    }
  });

  test('an edit is seen live, survives a restart, and a repeated send is stored once', async () => {
    const db = newDb();
    let server = await startServer({ env: { PARLEY_DB: db } });
    const room = await createRoom(server, 'Edits');
    const { client: alice } = await loginAndJoin(server, 'e_alice', room.id);
    const { client: bob } = await loginAndJoin(server, 'e_bob', room.id);
    assert.equal(alice.welcome.limits.edit_window_ms, 15 * 60 * 1000);
    alice.send({ type: 'send', room: room.id, text: 'helo wrold', client_id: 'e1' });
    const sent = await alice.next((f) => f.type === 'message' && f.client_id === 'e1');
    // The same client_id again: only alice hears back, with the original.
    alice.send({ type: 'send', room: room.id, text: 'helo wrold', client_id: 'e1' });
    const again = await alice.next((f) => f.type === 'message' && f.client_id === 'e1');
    assert.deepEqual(again, sent);
    const refused = await bob.request({ type: 'edit', room: room.id, seq: sent.seq, text: 'mine now' });
    assert.equal(refused.code, 'forbidden');
    alice.send({ type: 'edit', room: room.id, seq: sent.seq, text: 'hello world' });
    const edited = await bob.next((f) => f.type === 'edited');
    assert.deepEqual(Object.keys(edited), ['type', 'room', 'seq', 'text', 'edited_at']);
    assert.equal(edited.text, 'hello world');
    assert.ok(edited.edited_at >= sent.ts);
    await alice.next((f) => f.type === 'edited' && f.seq === sent.seq);
    assert.equal(bob.unread.filter((f) => f.type === 'message').length, 1, 'bob got the message once');
    alice.close();
    bob.close();

    assert.equal((await server.stop('SIGTERM')).code, 0, server.stderr());
    server = await startServer({ env: { PARLEY_DB: db } });
    try {
      const history = await fullHistory(server, room.id);
      assert.equal(history.length, 1, JSON.stringify(history));
      assert.equal(history[0].text, 'hello world');
      assert.equal(history[0].edited_at, edited.edited_at);
      const found = await http(server, `/api/rooms/${room.id}/messages?q=world`);
      assert.deepEqual(found.json.messages.map((m) => m.text), ['hello world']);
      const stale = await http(server, `/api/rooms/${room.id}/messages?q=wrold`);
      assert.deepEqual(stale.json.messages, []);
      const { joined } = await loginAndJoin(server, 'e_carol', room.id);
      assert.equal(joined.messages[0].text, 'hello world');
      assert.equal(joined.messages[0].edited_at, edited.edited_at);
    } finally {
      await server.kill();
    }
  });

  test('reactions are told live, survive a restart with totals and mine, and go with a deleted message', async () => {
    const db = newDb();
    let server = await startServer({ env: { PARLEY_DB: db } });
    const room = await createRoom(server, 'Reactions');
    const { client: alice } = await loginAndJoin(server, 'r_alice', room.id);
    const { client: bob } = await loginAndJoin(server, 'r_bob', room.id);
    const bobToken = bob.welcome.token;
    alice.send({ type: 'send', room: room.id, text: 'pizza?', client_id: 'p1' });
    const pizza = await alice.next((f) => f.type === 'message' && f.client_id === 'p1');
    alice.send({ type: 'send', room: room.id, text: 'or not', client_id: 'p2' });
    const other = await alice.next((f) => f.type === 'message' && f.client_id === 'p2');
    bob.send({ type: 'react', room: room.id, seq: pizza.seq, emoji: '🍕', on: true });
    const live = await alice.next((f) => f.type === 'reaction');
    assert.deepEqual(live, { type: 'reaction', room: room.id, seq: pizza.seq, emoji: '🍕', nick: 'r_bob', on: true, count: 1 });
    alice.send({ type: 'react', room: room.id, seq: pizza.seq, emoji: '🍕', on: true });
    assert.equal((await bob.next((f) => f.type === 'reaction' && f.nick === 'r_alice')).count, 2);
    alice.send({ type: 'react', room: room.id, seq: other.seq, emoji: '👎', on: true });
    await bob.next((f) => f.type === 'reaction' && f.seq === other.seq);
    alice.send({ type: 'delete', room: room.id, seq: other.seq });
    await bob.next((f) => f.type === 'deleted' && f.seq === other.seq);
    const tooLong = await bob.request({ type: 'react', room: room.id, seq: pizza.seq, emoji: 'x'.repeat(33), on: true });
    assert.equal(tooLong.code, 'bad_request');
    alice.close();
    bob.close();

    assert.equal((await server.stop('SIGTERM')).code, 0, server.stderr());
    server = await startServer({ env: { PARLEY_DB: db } });
    try {
      const history = await fullHistory(server, room.id);
      assert.deepEqual(history.find((m) => m.seq === pizza.seq).reactions, [{ emoji: '🍕', count: 2 }]);
      assert.equal(history.find((m) => m.seq === other.seq).reactions, undefined);
      const back = await ChatClient.connect(server);
      back.send({ type: 'hello', nick: 'r_bob', token: bobToken });
      await back.next((f) => f.type === 'welcome');
      const joined = await back.request({ type: 'join', room: room.id });
      assert.deepEqual(joined.messages.find((m) => m.seq === pizza.seq).reactions, [{ emoji: '🍕', count: 2, mine: true }]);
      back.send({ type: 'react', room: room.id, seq: pizza.seq, emoji: '🍕', on: false });
      const off = await back.next((f) => f.type === 'reaction');
      assert.equal(off.count, 1);
      back.close();
    } finally {
      await server.kill();
    }
  });

  test('kill -9 while clients send: every message broadcast a flush interval before is kept once, in order',
    async (t) => {
      const db = newDb();
      let server = await startServer({ env: { PARLEY_DB: db } });
      const senders = [];
      for (const nick of ['k_ann', 'k_ben', 'k_cat', 'k_dan']) {
        senders.push({ nick, ...(await loginAndJoin(server, nick, 'general')), acked: [] });
      }
      let killedAt = 0;
      // Each sender stays under the per-connection rate limit (10/s).
      const loops = senders.map(async (s) => {
        s.client.socket.on('message', (data) => {
          const frame = JSON.parse(data.toString());
          if (frame.type === 'message' && frame.from === s.nick) s.acked.push({ ...frame, at: Date.now() });
        });
        for (let i = 1; !killedAt; i++) {
          if (s.client.socket.readyState !== 1) break;
          s.client.send({ type: 'send', room: 'general', text: `${s.nick} line ${i}`, client_id: `${s.nick}-${i}` });
          await sleep(110);
        }
      });
      await sleep(2500);
      killedAt = Date.now();
      await server.kill();
      await Promise.all(loops);

      server = await startServer({ env: { PARLEY_DB: db } });
      try {
        const history = await fullHistory(server, 'general');
        const seqs = history.map((m) => m.seq);
        assert.deepEqual(seqs, [...Array(seqs.length).keys()].map((i) => i + 1), 'no gap and no repeat');
        const byId = new Map(history.map((m) => [m.client_id, m]));
        assert.equal(byId.size, history.length, 'each message stored once');
        let promised = 0;
        for (const s of senders) {
          const stored = history.filter((m) => m.from === s.nick).map((m) => m.client_id);
          // A sender's messages keep the order they were sent in.
          const numbers = stored.map((id) => Number(id.split('-')[1]));
          assert.deepEqual(numbers, [...numbers].sort((a, b) => a - b), `${s.nick} in order`);
          for (const ack of s.acked) {
            const kept = byId.get(ack.client_id);
            if (killedAt - ack.at > FLUSH_INTERVAL_MS) {
              promised++;
              assert.ok(kept, `${ack.client_id} was broadcast ${killedAt - ack.at} ms before the kill`);
            }
            if (kept) {
              assert.equal(kept.seq, ack.seq);
              assert.equal(kept.text, ack.text);
            }
          }
        }
        assert.ok(promised >= 40, `only ${promised} messages were old enough to check`);
        const acked = senders.reduce((n, s) => n + s.acked.length, 0);
        t.diagnostic(`${acked} acknowledged, ${promised} of them before the promise window, ` +
          `${history.length} stored`);

        // Messages broadcast but not committed may be lost, so the room starts a new
        // history epoch: a client resuming with the old one rebuilds its view.
        assert.match(server.stderr(), /did not stop cleanly/);
        assert.match((await http(server, '/metrics')).text, /^parley_store_unclean_start 1$/m);
        const oldEpoch = senders[0].joined.epoch;
        const lastSeen = Math.max(...senders[0].acked.map((m) => m.seq));
        const resumed = await loginAndJoin(server, 'k_fay', 'general', { since: lastSeen, epoch: oldEpoch });
        assert.notEqual(resumed.joined.epoch, oldEpoch);
        assert.equal(resumed.joined.complete, false);
        assert.deepEqual(resumed.joined.messages.map((m) => m.seq), seqs.slice(-resumed.joined.messages.length));
        assert.ok(resumed.joined.messages.length > 0);

        // New messages continue after the highest stored seq.
        const { client } = await loginAndJoin(server, 'k_eve', 'general');
        client.send({ type: 'send', room: 'general', text: 'still here', client_id: 'e1' });
        const echo = await client.next((f) => f.type === 'message' && f.client_id === 'e1');
        assert.equal(echo.seq, seqs.length + 1);
      } finally {
        await server.kill();
      }
    });

  test('retention trims what is stored; a resume into trimmed history is incomplete', async () => {
    const db = newDb();
    let server = await startServer({ env: { PARLEY_DB: db, PARLEY_KEEP_MESSAGES: '5' } });
    const { client, joined } = await loginAndJoin(server, 'r_ron', 'general');
    for (let i = 1; i <= 9; i++) {
      client.send({ type: 'send', room: 'general', text: `note ${i}`, client_id: `n${i}` });
      await client.next((f) => f.type === 'message' && f.client_id === `n${i}`);
    }
    assert.equal((await server.stop('SIGTERM')).code, 0);
    server = await startServer({ env: { PARLEY_DB: db, PARLEY_KEEP_MESSAGES: '5' } });
    try {
      const history = await fullHistory(server, 'general');
      assert.deepEqual(history.map((m) => m.seq), [5, 6, 7, 8, 9]);
      const resumed = await loginAndJoin(server, 'r_ron', 'general', { since: 2, epoch: joined.epoch });
      assert.equal(resumed.joined.complete, false);
      assert.deepEqual(resumed.joined.messages.map((m) => m.seq), [5, 6, 7, 8, 9]);
      const metrics = (await http(server, '/metrics')).text;
      assert.match(metrics, /^parley_store_persistent 1$/m);
    } finally {
      await server.kill();
    }
  });
});

describe('search over REST', () => {
  test('ranked, paged, deleted messages never found, clear errors', async () => {
    const server = await startServer({ env: { PARLEY_DB: newDb() } });
    try {
      const { client } = await loginAndJoin(server, 's_sue', 'general');
      const texts = ['pizza tonight?', 'who wants pizza', 'pizza pizza pizza', 'tacos instead', 'pizza is gone'];
      for (const [i, text] of texts.entries()) {
        client.send({ type: 'send', room: 'general', text, client_id: `s${i}` });
        await client.next((f) => f.type === 'message' && f.client_id === `s${i}`);
      }
      client.send({ type: 'delete', room: 'general', seq: 5 });
      await client.next((f) => f.type === 'deleted' && f.seq === 5);
      await sleep(FLUSH_INTERVAL_MS * 3);  // searchable once committed

      const all = await http(server, '/api/rooms/general/messages?q=pizza');
      assert.equal(all.status, 200, all.text);
      assert.equal(all.json.room, 'general');
      assert.equal(all.json.q, 'pizza');
      assert.deepEqual(all.json.messages.map((m) => m.seq).sort(), [1, 2, 3]);
      assert.equal(all.json.messages[0].seq, 3, 'the best match first');
      assert.equal(all.json.more, false);
      for (const m of all.json.messages) assert.equal(typeof m.text, 'string');

      const first = await http(server, '/api/rooms/general/messages?q=pizza&limit=2');
      assert.equal(first.json.messages.length, 2);
      assert.equal(first.json.more, true);
      const second = await http(server, '/api/rooms/general/messages?q=pizza&limit=2&offset=2');
      assert.equal(second.json.messages.length, 1);
      assert.equal(second.json.more, false);
      const seen = [...first.json.messages, ...second.json.messages].map((m) => m.seq).sort();
      assert.deepEqual(seen, [1, 2, 3]);

      assert.deepEqual((await http(server, '/api/rooms/general/messages?q=gone')).json.messages, []);
      assert.equal((await http(server, '/api/rooms/general/messages?q=piz*')).json.messages.length, 3);
      // Operators are words, not syntax.
      assert.equal((await http(server, '/api/rooms/general/messages?q=%22pizza%20OR%20tacos')).status, 200);

      const cases = [
        ['/api/rooms/general/messages?q=', 400, 'bad_request'],
        ['/api/rooms/general/messages?q=%20%20', 400, 'bad_request'],
        ['/api/rooms/general/messages?q=pizza&limit=0', 400, 'bad_request'],
        ['/api/rooms/general/messages?q=pizza&limit=201', 400, 'bad_request'],
        ['/api/rooms/general/messages?q=pizza&offset=-1', 400, 'bad_request'],
        ['/api/rooms/general/messages?q=pizza&before=3', 400, 'bad_request'],
        ['/api/rooms/general/messages?q=%FF', 400, 'bad_request'],
        [`/api/rooms/general/messages?q=${'a'.repeat(201)}`, 400, 'bad_request'],
        ['/api/rooms/nowhere/messages?q=pizza', 404, 'room_not_found'],
      ];
      for (const [target, status, code] of cases) {
        const r = await http(server, target);
        assert.equal(r.status, status, `${target}: ${r.text}`);
        assert.equal(r.json.error.code, code, target);
        assert.equal(typeof r.json.error.message, 'string');
      }
    } finally {
      await server.kill();
    }
  });

  test('the in-memory store searches too', async () => {
    const server = await startServer();
    try {
      const { client } = await loginAndJoin(server, 'm_max', 'general');
      client.send({ type: 'send', room: 'general', text: 'remember the milk', client_id: 'x' });
      await client.next((f) => f.type === 'message' && f.client_id === 'x');
      const r = await http(server, '/api/rooms/general/messages?q=milk');
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json.messages.map((m) => m.text), ['remember the milk']);
      assert.match((await http(server, '/healthz')).text, /"store":"memory"/);
      assert.match((await http(server, '/metrics')).text, /^parley_store_persistent 0$/m);
    } finally {
      await server.kill();
    }
  });
});

describe('a database that cannot be used', () => {
  const run = (args, env = {}) => spawnSync(serverBinary(), ['--port', '0', ...args], {
    env: { ...process.env, PARLEY_DB: path.join(scratch, 'unused.db'), ...env }, encoding: 'utf8', timeout: 10_000,
  });

  test('a file that is not a database, another program\'s database, a directory or an impossible path: exit 1, a clear line', () => {
    const garbage = path.join(scratch, 'garbage.db');
    fs.writeFileSync(garbage, 'this is not a database\n'.repeat(100));
    const foreign = path.join(scratch, 'foreign.db');
    const made = spawnSync('python3', ['-c',
      'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("create table items(name)"); c.commit()',
      foreign]);
    assert.equal(made.status, 0, String(made.stderr));
    for (const [what, db] of [['garbage', garbage], ['another program\'s database', foreign], ['a directory', scratch],
      ['no such directory', path.join(scratch, 'missing', 'x.db')]]) {
      const r = run(['--db', db]);
      assert.equal(r.status, 1, `${what}: ${r.stderr}`);
      assert.equal(r.signal, null, what);
      assert.match(r.stderr, /^parley-server: cannot use the database /m, what);
      assert.ok(r.stderr.includes(db), `${what}: names the file: ${r.stderr}`);
      assert.equal(r.stdout, '', `${what}: never listened`);
    }
  });

  test('bad settings are refused with a hint', () => {
    for (const [args, pattern] of [
      [['--flush-interval', '250ms'], /PARLEY_FLUSH_INTERVAL: at most 100ms/],
      [['--keep-messages', 'lots'], /PARLEY_KEEP_MESSAGES: expected a number/],
      [['--keep-for', '3 weeks'], /PARLEY_KEEP_FOR/],
      [['--db', ''], /PARLEY_DB: empty/],
    ]) {
      const r = run(args);
      assert.equal(r.status, 2, `${args}: ${r.stderr}`);
      assert.match(r.stderr, pattern);
    }
  });
});

describe('a full disk', () => {
  test('chat goes on, nothing accepted is lost, /metrics /healthz and the log say so', async () => {
    const db = newDb();
    const server = await startServer({ env: { PARLEY_DB: db, PARLEY_DB_MAX_BYTES: String(96 * 1024) } });
    try {
      const { client: writer } = await loginAndJoin(server, 'f_fay', 'general');
      const { client: reader } = await loginAndJoin(server, 'f_gus', 'general');
      const big = 'x'.repeat(1900);
      let failing = false;
      let sent = 0;
      for (let i = 1; i <= 120 && !failing; i++) {
        writer.send({ type: 'send', room: 'general', text: `${i} ${big}`, client_id: `f${i}` });
        await reader.next((f) => f.type === 'message' && f.client_id === `f${i}`);
        sent = i;
        if (i % 10 === 0) {
          await sleep(FLUSH_INTERVAL_MS * 3);
          failing = /^parley_store_failing 1$/m.test((await http(server, '/metrics')).text);
        }
        await sleep(100);  // under the rate limit
      }
      assert.ok(failing, `the store never failed after ${sent} messages`);
      const metrics = (await http(server, '/metrics')).text;
      assert.match(metrics, /^parley_store_write_errors_total [1-9]\d*$/m);
      assert.match(metrics, /^parley_store_pending_writes [1-9]\d*$/m);
      const health = await http(server, '/healthz');
      assert.equal(health.status, 200);
      assert.equal(health.json.store, 'failing');
      assert.match(server.stderr(), /parley-server: store: .*(full|quota|disk)/i);

      // The room and every message are still served from memory.
      writer.send({ type: 'send', room: 'general', text: 'still chatting', client_id: 'after' });
      await reader.next((f) => f.type === 'message' && f.client_id === 'after');
      const history = await fullHistory(server, 'general');
      assert.deepEqual(history.map((m) => m.client_id), [...Array(sent).keys()].map((i) => `f${i + 1}`).concat('after'));
    } finally {
      await server.kill();
    }
  });
});
