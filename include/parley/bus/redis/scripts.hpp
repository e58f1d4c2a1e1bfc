// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/version.hpp>

PARLEY_NAMESPACE_BEGIN
namespace redis_scripts {

/// Numbers, stores and publishes one chat message atomically, so `seq` is
/// cluster-wide, the stream has no holes, and every subscriber sees messages in
/// `seq` order.
/// KEYS: seq counter, stream. ARGV: floor (newest seq the sender's node knows),
/// stream cap, channel, header ("origin\n"), author, frame head, frame tail,
/// ts, from, text, client_id. Returns the seq.
/// The floor and the stream's top entry keep seq increasing even when the
/// counter was lost (Redis restarted without persistence).
inline constexpr const char* append = R"lua(
local seq = redis.call('INCR', KEYS[1])
local floor = tonumber(ARGV[1])
local top = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
if top[1] then
  local last = tonumber(string.match(top[1][1], '^(%d+)'))
  if last > floor then floor = last end
end
if seq <= floor then
  seq = floor + 1
  redis.call('SET', KEYS[1], seq)
end
local id = string.format('%d', seq)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], id .. '-0',
  'ts', ARGV[8], 'from', ARGV[9], 'text', ARGV[10], 'cid', ARGV[11], 'author', ARGV[5])
redis.call('PUBLISH', ARGV[3], ARGV[4] .. id .. '\n' .. ARGV[5] .. '\n' .. ARGV[6] .. id .. ARGV[7])
return seq
)lua";

/// Renews a nickname held with this token, takes it if it is free (after a
/// Redis restart, or when the holder's claim expired), refuses it otherwise.
/// KEYS: the nick key. ARGV: token, ttl in ms. Returns 1 (held) or 0 (taken).
inline constexpr const char* claim_or_renew = R"lua(
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
)lua";

/// Frees a nickname only if this token still holds it. KEYS: nick key. ARGV: token.
inline constexpr const char* release = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
)lua";

/// Publishes a direct message if someone connected holds the nickname (a
/// holder in reconnect grace has no online key: refused, as on one node).
/// KEYS: the nick's online key. ARGV: channel, payload. Returns 1 (published) or 0.
inline constexpr const char* direct = R"lua(
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('PUBLISH', ARGV[1], ARGV[2])
  return 1
end
return 0
)lua";

/// Claims a room name for a room id: 1 when free (now held) or already held by
/// that id (a permanent room every node creates under one id), 0 when another
/// room holds it. No expiry: the room outlives any node (its record is in
/// Redis too); the node that removes the room releases the name (`release`).
/// KEYS: the room name key. ARGV: room id.
inline constexpr const char* claim_room_name = R"lua(
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then return 1 end
if v then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1
)lua";

/// History newest first: entries with ARGV[2] <= id <= ARGV[1], at most ARGV[3],
/// each as {id, fields, deleted, edit, reactions} (edit: the edit patch, or
/// nil; reactions: the JSON `react` keeps, or nil).
/// KEYS: stream, tombstone set, edits hash, reactions hash.
inline constexpr const char* read = R"lua(
local entries = redis.call('XREVRANGE', KEYS[1], ARGV[1], ARGV[2], 'COUNT', ARGV[3])
local out = {}
for i, e in ipairs(entries) do
  out[i] = {e[1], e[2], redis.call('SISMEMBER', KEYS[2], e[1]), redis.call('HGET', KEYS[3], e[1]),
            redis.call('HGET', KEYS[4], e[1])}
end
return out
)lua";

/// Adds (ARGV[4] '1') or removes ('0') one author's reaction to an entry, in
/// one step, so reactions made at once on several nodes all count. Nothing for
/// a deleted entry. KEYS: reactions hash, tombstone set. ARGV: entry id, emoji,
/// author. Returns 1 when it changed something.
inline constexpr const char* react = R"lua(
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return 0 end
local current = redis.call('HGET', KEYS[1], ARGV[1])
local list = {}
if current then list = cjson.decode(current) end
local at = nil
for i, r in ipairs(list) do
  if r[1] == ARGV[2] then at = i end
end
if ARGV[4] == '1' then
  if not at then
    table.insert(list, {ARGV[2], {}})
    at = #list
  end
  for _, a in ipairs(list[at][2]) do
    if a == ARGV[3] then return 0 end
  end
  table.insert(list[at][2], ARGV[3])
else
  if not at then return 0 end
  local kept = {}
  for _, a in ipairs(list[at][2]) do
    if a ~= ARGV[3] then table.insert(kept, a) end
  end
  if #kept == #list[at][2] then return 0 end
  if #kept == 0 then table.remove(list, at) else list[at][2] = kept end
end
if #list == 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(list))
end
return 1
)lua";

/// Replaces this node's member counts and sets their expiry.
/// KEYS: the node's count hash. ARGV: ttl ms, then room id / count pairs.
inline constexpr const char* node_counts = R"lua(
redis.call('DEL', KEYS[1])
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
if #ARGV > 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 1
)lua";

/// Lists a member in a room and publishes the change, atomically, so a reader
/// that subscribed first either finds it in the hash or gets the event later.
/// KEYS: the room's member hash. ARGV: field, nick, channel, payload.
inline constexpr const char* member_set = R"lua(
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
)lua";

/// Unlists a member and publishes the change, atomically.
/// KEYS: the room's member hash. ARGV: field, channel, payload.
inline constexpr const char* member_unset = R"lua(
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
)lua";

/// Replaces one node's fields in a room's member hash (none: drops them; a
/// stopped or dead node's, or a node's own after an outage).
/// KEYS: the room's member hash. ARGV: the node's field prefix, then field / nick pairs.
/// Returns how many fields of that node were dropped.
inline constexpr const char* node_members = R"lua(
local dropped = 0
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(f, 1, #ARGV[1]) == ARGV[1] then
    redis.call('HDEL', KEYS[1], f)
    dropped = dropped + 1
  end
end
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
return dropped
)lua";

}  // namespace redis_scripts
PARLEY_NAMESPACE_END
