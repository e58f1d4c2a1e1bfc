// Two parley-server nodes and one Redis on loopback behave as one chat:
// messages both ways in order, one owner per nickname, one lobby, resume anywhere.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ChatClient, EventStream, eventually, http, member, metric, rooms, startNode, startRedis } from './cluster.mjs';

let redis;
let a;
let b;
let c;
before(async () => {
  redis = await startRedis();
  a = await startNode(redis, { name: 'node-a' });
  b = await startNode(redis, { name: 'node-b' });
  c = await startNode(redis, { name: 'node-c' });
});
after(async () => {
  await a?.kill();
  await b?.kill();
  await c?.kill();
  await redis?.kill();
});

const messages = (client, room) => client.frames.filter((f) => f.type === 'message' && f.room === room);

describe('chat across nodes', () => {
  test('members on A and B chat both ways, in order, without duplicates', async () => {
    const alice = await member(a, 'alice');
    const bob = await member(b, 'bob');
    // Interleaved sends from both sides; each side waits for its own echo only.
    const count = 8;  // under the rate limit burst (20 requests)
    for (let i = 0; i < count; i += 1) {
      alice.send({ type: 'send', room: 'general', text: `a${i}` });
      bob.send({ type: 'send', room: 'general', text: `b${i}` });
    }
    for (const client of [alice, bob]) {
      await eventually(() => messages(client, 'general').length >= 2 * count);
    }
    const seen = {};
    for (const client of [alice, bob]) {
      const got = messages(client, 'general');
      assert.equal(got.length, 2 * count, 'no duplicates');
      const seqs = got.map((m) => m.seq);
      for (let i = 1; i < seqs.length; i += 1) assert.equal(seqs[i], seqs[i - 1] + 1, `seq order ${seqs}`);
      // Each sender's messages keep their order.
      for (const who of ['a', 'b']) {
        const texts = got.filter((m) => m.text.startsWith(who)).map((m) => m.text);
        assert.deepEqual(texts, Array.from({ length: count }, (_, i) => `${who}${i}`));
      }
      seen[client === alice ? 'alice' : 'bob'] = got.map((m) => `${m.seq}:${m.text}`);
    }
    assert.deepEqual(seen.alice, seen.bob, 'both nodes deliver the same sequence');
    // Presence crosses nodes too.
    await alice.close();
    await bob.next((f) => f.type === 'presence' && f.event === 'leave' && f.nick === 'alice');
    await bob.close();
  });

  test('the same nickname claimed on both nodes at once: exactly one wins', async () => {
    for (let round = 0; round < 5; round += 1) {
      const nick = `twin${round}`;
      const [x, y] = await Promise.all([ChatClient.connect(a), ChatClient.connect(b)]);
      x.send({ type: 'hello', nick });
      y.send({ type: 'hello', nick });
      const replies = await Promise.all([x, y].map((c) => c.next((f) => f.type === 'welcome' || f.type === 'error')));
      const won = replies.filter((r) => r.type === 'welcome');
      const lost = replies.filter((r) => r.type === 'error');
      assert.equal(won.length, 1, JSON.stringify(replies));
      assert.equal(lost[0].code, 'nick_taken');
      await x.close();
      await y.close();
    }
  });

  test('a nickname held on A is taken on B until A releases it', async () => {
    const holder = await ChatClient.login(a, 'carol');
    const other = await ChatClient.connect(b);
    const refused = await other.request({ type: 'hello', nick: 'Carol' });
    assert.equal(refused.code, 'nick_taken');
    await holder.close();  // a clean close frees the name at once
    await eventually(async () => (await other.request({ type: 'hello', nick: 'carol' })).type === 'welcome');
    await other.close();
  });

  test('the lobby on B and C shows a room created on A, with members summed over nodes', async () => {
    const events = new EventStream(c);  // Server-Sent Events on node C
    await events.next((e) => e.event === 'rooms');
    const creator = await ChatClient.login(a, 'dave');
    const created = await creator.request({ type: 'create_room', name: 'Across' });
    assert.equal(created.type, 'room_created');
    const id = created.room.id;
    const watcher = await ChatClient.login(b, 'erin');
    const snapshot = await watcher.request({ type: 'watch_lobby' });
    const listed = () => rooms(b).then((list) => list.find((r) => r.id === id));
    // The watcher on B learns of the room: in its snapshot, or from the
    // room_update B sends its watchers when A's announcement arrives.
    const inSnapshot = snapshot.rooms.find((r) => r.id === id);
    const announced = inSnapshot ?? (await watcher.next((f) => f.type === 'room_update' && f.room.id === id)).room;
    assert.equal(announced.name, 'Across');
    assert.equal((await listed())?.name, 'Across', 'B lists it over REST too');

    const onA = [await member(a, 'fay', id), await member(a, 'gus', id)];
    const onB = await member(b, 'hal', id);
    const onC = await member(c, 'ian', id);
    await eventually(async () => (await listed())?.members === 4);
    for (const node of [a, c]) await eventually(async () => (await rooms(node)).find((r) => r.id === id)?.members === 4);
    // The watcher on B saw the count change, from A's and C's joins too.
    await watcher.next((f) => f.type === 'room_update' && f.room.id === id && f.room.members === 4);
    await events.next((e) => e.event === 'room_update' && e.data.room.id === id && e.data.room.members === 4);
    events.close();
    // Every member sees the others' messages in this room.
    onA[0].send({ type: 'send', room: id, text: 'hello from A' });
    await onB.next((f) => f.type === 'message' && f.text === 'hello from A');
    await onC.next((f) => f.type === 'message' && f.text === 'hello from A');
    for (const client of [...onA, onB, onC, creator, watcher]) await client.close();
    await eventually(async () => (await listed())?.members === 0);
  });

  test('a client resuming on the other node with `since` gets the gap, no duplicates', async () => {
    const talker = await member(a, 'ivy');
    const reader = await member(a, 'jon');
    talker.send({ type: 'send', room: 'general', text: 'before' });
    const last = await reader.next((f) => f.type === 'message' && f.text === 'before');
    const epoch = reader.joined.epoch;
    const token = reader.welcome.token;
    await reader.close(4000);  // not a clean close: the name stays reserved for the token
    for (let i = 0; i < 5; i += 1) talker.send({ type: 'send', room: 'general', text: `gap${i}` });
    await talker.next((f) => f.type === 'message' && f.text === 'gap4');

    const back = await ChatClient.connect(b);
    const welcome = await back.request({ type: 'hello', nick: 'jon', token });
    assert.equal(welcome.type, 'welcome', JSON.stringify(welcome));
    const joined = await back.request({ type: 'join', room: 'general', since: last.seq, epoch });
    assert.equal(joined.type, 'joined', JSON.stringify(joined));
    assert.deepEqual(joined.messages.map((m) => m.text), ['gap0', 'gap1', 'gap2', 'gap3', 'gap4']);
    assert.equal(joined.complete, true);
    talker.send({ type: 'send', room: 'general', text: 'after' });
    const live = await back.next((f) => f.type === 'message' && f.text === 'after');
    assert.equal(live.seq, joined.messages.at(-1).seq + 1);
    assert.equal(back.frames.filter((f) => f.type === 'message').length, 1, 'nothing replayed twice');
    // History on B comes from the shared stream as well.
    const history = await back.request({ type: 'history', room: 'general', limit: 3 });
    assert.deepEqual(history.messages.map((m) => m.text), ['gap3', 'gap4', 'after']);
    await back.close();
    await talker.close();
  });

  test('a history page larger than one 16 KiB read of hiredis arrives whole and at once', async () => {
    // hiredis 0.14 reads at most 16 KiB per call: the rest of a big reply must be
    // read without waiting for more traffic, or the command times out (3 s) and
    // the node drops its Redis link (counted in parley_redis_outages_total).
    // Debian's Asio 1.22 re-registers the descriptor (EPOLL_CTL_MOD) on every
    // wait, which reports bytes already buffered, so there this also passed
    // before the adapter drained the socket itself; it guards the adapter on
    // reactors that do not (and the page size end to end).
    const creator = await ChatClient.login(a, 'big0');
    const { room } = await creator.request({ type: 'create_room', name: 'Big page' });
    const senders = [creator];
    for (let i = 1; i < 20; i += 1) senders.push(await ChatClient.login(a, `big${i}`));
    for (const s of senders) assert.equal((await s.request({ type: 'join', room: room.id })).type, 'joined');
    const perSender = 10;  // with hello and join: under the rate limit burst (20 requests)
    const filler = 'x'.repeat(200);
    senders.forEach((s, i) => {
      for (let k = 0; k < perSender; k += 1) s.send({ type: 'send', room: room.id, text: `${i}/${k} ${filler}` });
    });
    const total = senders.length * perSender;
    await eventually(() => messages(creator, room.id).length === total);
    const outagesBefore = metric((await http(b, '/metrics')).text, 'parley_redis_outages_total');

    const reader = await ChatClient.login(b, 'bigreader');
    const startedAt = Date.now();
    const joined = await reader.request({ type: 'join', room: room.id, history: total });
    const took = Date.now() - startedAt;
    assert.equal(joined.type, 'joined', JSON.stringify(joined).slice(0, 300));
    assert.equal(joined.messages.length, total);
    assert.ok(JSON.stringify(joined.messages).length > 3 * 16384, 'the page spans several 16 KiB reads');
    assert.deepEqual(joined.messages.map((m) => m.text), messages(creator, room.id).map((m) => m.text));
    assert.equal(metric((await http(b, '/metrics')).text, 'parley_redis_outages_total'), outagesBefore,
      'no command timed out');
    // A timed-out read takes the 3 s command timeout; a whole read is far quicker
    // even on a loaded machine.
    assert.ok(took < 2500, `join took ${took} ms`);
    for (const client of [...senders, reader]) await client.close();
  });

  test('edits and deletes cross nodes, reach the shared history, and a resend on another node is not stored twice', async () => {
    const alice = await member(a, 'edit_alice', 'general');
    const bob = await member(b, 'edit_bob', 'general');
    alice.send({ type: 'send', room: 'general', text: 'helo', client_id: 'x-1' });
    const sent = await alice.next((f) => f.type === 'message' && f.client_id === 'x-1');
    alice.send({ type: 'send', room: 'general', text: 'to delete', client_id: 'x-2' });
    const doomed = await alice.next((f) => f.type === 'message' && f.client_id === 'x-2');
    await bob.next((f) => f.type === 'message' && f.seq === doomed.seq);

    const refused = await bob.request({ type: 'edit', room: 'general', seq: sent.seq, text: 'hijack' });
    assert.equal(refused.code, 'forbidden');
    alice.send({ type: 'edit', room: 'general', seq: sent.seq, text: 'hello' });
    const edited = await bob.next((f) => f.type === 'edited' && f.seq === sent.seq);
    assert.equal(edited.text, 'hello');
    alice.send({ type: 'delete', room: 'general', seq: doomed.seq });
    await bob.next((f) => f.type === 'deleted' && f.seq === doomed.seq);

    // A joiner on B (from B's window) and on C (from Redis) see the edit and the tombstone.
    for (const node of [b, c]) {
      const viewer = await member(node, `edit_view_${node === b ? 'b' : 'c'}`, 'general');
      const got = viewer.joined.messages;
      assert.equal(got.find((m) => m.seq === sent.seq).text, 'hello', JSON.stringify(got));
      assert.equal(got.find((m) => m.seq === sent.seq).edited_at, edited.edited_at);
      assert.equal(got.find((m) => m.seq === doomed.seq).deleted, true);
      const page = await viewer.request({ type: 'history', room: 'general', before: sent.seq + 1, limit: 1 });
      assert.equal(page.messages[0].text, 'hello');
      await viewer.close();
    }
    const rest = await http(c, `/api/rooms/general/messages?before=${sent.seq + 1}&limit=1`);
    assert.equal(rest.json.messages[0].text, 'hello');

    // Alice's connection drops; she reclaims her name on B and resends x-1: the original comes back.
    const token = alice.welcome.token;
    alice.socket.terminate();
    const again = await ChatClient.connect(b);
    again.send({ type: 'hello', nick: 'edit_alice', token });
    const welcome = await again.next((f) => f.type === 'welcome' || f.type === 'error');
    assert.equal(welcome.type, 'welcome', JSON.stringify(welcome));
    assert.equal((await again.request({ type: 'join', room: 'general' })).type, 'joined');
    again.send({ type: 'send', room: 'general', text: 'helo', client_id: 'x-1' });
    const original = await again.next((f) => f.type === 'message' && f.client_id === 'x-1');
    assert.equal(original.seq, sent.seq);
    assert.equal(original.text, 'hello', 'the original as it is now');
    // Nothing new was broadcast: bob's next message is the next one anyone sends.
    bob.send({ type: 'send', room: 'general', text: 'after', client_id: 'y-1' });
    const after = await bob.next((f) => f.type === 'message' && f.client_id === 'y-1');
    assert.equal(after.seq, doomed.seq + 1);
    assert.equal(bob.frames.filter((f) => f.type === 'message' && f.client_id === 'x-1').length, 1);
    await again.close();
    await bob.close();
  });

  test('reactions made at once on two nodes both count, live and in the shared history', async () => {
    const ann = await member(a, 'react_ann', 'general');
    const ben = await member(b, 'react_ben', 'general');
    ann.send({ type: 'send', room: 'general', text: 'ship it?', client_id: 'r-1' });
    const sent = await ann.next((f) => f.type === 'message' && f.client_id === 'r-1');
    await ben.next((f) => f.type === 'message' && f.seq === sent.seq);
    // Both at once, one on each node.
    ann.send({ type: 'react', room: 'general', seq: sent.seq, emoji: '🚀', on: true });
    ben.send({ type: 'react', room: 'general', seq: sent.seq, emoji: '🚀', on: true });
    for (const client of [ann, ben]) {
      await eventually(() => client.frames.filter((f) => f.type === 'reaction').length >= 2);
    }
    const viewer = await member(c, 'react_view', 'general');
    const onC = viewer.joined.messages.find((m) => m.seq === sent.seq);
    assert.deepEqual(onC.reactions, [{ emoji: '🚀', count: 2 }], JSON.stringify(onC));
    const page = await ben.request({ type: 'history', room: 'general', before: sent.seq + 1, limit: 1 });
    assert.deepEqual(page.messages[0].reactions, [{ emoji: '🚀', count: 2, mine: true }]);
    await viewer.close();
    await ann.close();
    await ben.close();
  });

  test('a direct message reaches a user on the other node', async () => {
    const kay = await ChatClient.login(a, 'kay');
    const lou = await ChatClient.login(b, 'lou');
    kay.send({ type: 'dm', to: 'Lou', text: 'psst' });
    const sent = await kay.next((f) => f.type === 'dm');  // the sender's copy
    assert.equal(sent.to, 'Lou');
    const got = await lou.next((f) => f.type === 'dm');
    assert.equal(got.text, 'psst');
    assert.equal(got.from, 'kay');
    assert.equal((await kay.request({ type: 'dm', to: 'nobody', text: '?' })).code, 'user_not_found');
    await kay.close();
    await lou.close();
  });

  test('a node whose only member leaves and rejoins at once still gets the room', async () => {
    const sender = await member(a, 'pat');
    const flapper = await member(b, 'quin');
    for (let i = 0; i < 3; i += 1) {
      flapper.send({ type: 'leave', room: 'general' });
      const joined = await flapper.request({ type: 'join', room: 'general' });
      assert.equal(joined.type, 'joined');
    }
    sender.send({ type: 'send', room: 'general', text: 'after the flapping' });
    await flapper.next((f) => f.type === 'message' && f.text === 'after the flapping');
    await sender.close();
    await flapper.close();
  });

  test('/healthz and /metrics report the Redis link', async () => {
    const health = await http(b, '/healthz');
    assert.equal(health.status, 200);
    assert.equal(health.json.redis, 'up');
    const metrics = await http(b, '/metrics');
    assert.match(metrics.text, /^parley_redis_up 1$/m);
  });
});
