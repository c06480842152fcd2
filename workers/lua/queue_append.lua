-- Append items to per-user queues, each item once, and (to route) say how each user who got
-- something new gets a drain (workers/user_queue.py UserQueue.append and append_and_route; the
-- LINE webhook's accept_events appends a request's events with it).
-- KEYS[1]           the due index (<name>-due): sorted set user -> when the first item is due
-- KEYS[2]           the ready list (<name>-ready)
-- KEYS[1 + 2u]      user u's items (<name>:<user>), u = 1 .. ARGV[6]
-- KEYS[2 + 2u]      user u's drain-queued note (<name>-pending:<user>)
-- KEYS[2 + 2U + e]  item e's seen marker (<seen_prefix>:<item id>), e = 1 .. the items
-- then, to route    the RQ queue the drain jobs wait in (rq:queue:<queue>); absent: append only
-- then, if any      the other hospitals' drain queues of the deployment (their waiting jobs count too)
-- ARGV[1]  the seen markers' TTL      ARGV[2]  the items list's TTL
-- ARGV[3]  now (the due time of a first item, and the note's value)
-- ARGV[4]  the note's and the ready list's TTL
-- ARGV[5]  drain jobs waiting beyond which a user goes on the ready list instead of getting a job
--          (this queue's, or, once one of this queue's waits, the deployment's: behind as a whole, the
--          hospitals batch their patients instead of each starting jobs of a few)
-- ARGV[6]  U, the number of users; ARGV[6 + u] user u
-- then per item e: its user's number u, its JSON
-- Returns  appending only: how many items were appended (0 or 1 for one item). Routing:
--          {that number, per user: 0 nothing to do (nothing new, or a drain is coming: its note is
--          there), 1 note set and put on the ready list, 2 the caller queues a drain job of its own}.
-- Atomic: the seen-check and the append together, or two processes given one item both queue it;
-- no drain may start between the look at its note and the appends (it clears the note first, then
-- reads), and no waiting job between the count and the ready list (a job must be there to take it).
-- ZADD NX: a first item waiting out a backoff keeps its due time.
local users = tonumber(ARGV[6])
local items = (#ARGV - 6 - users) / 2
local first_item_key, first_item_arg = 2 + 2 * users, 6 + users
local drains = KEYS[first_item_key + items + 1]
local appended, new_for = 0, {}
for e = 1, items do
  local u = tonumber(ARGV[first_item_arg + 2 * e - 1])
  if redis.call('SET', KEYS[first_item_key + e], '1', 'NX', 'EX', ARGV[1]) then
    redis.call('RPUSH', KEYS[1 + 2 * u], ARGV[first_item_arg + 2 * e])
    redis.call('EXPIRE', KEYS[1 + 2 * u], ARGV[2])
    redis.call('ZADD', KEYS[1], 'NX', ARGV[3], ARGV[6 + u])
    appended, new_for[u] = appended + 1, true
  end
end
if not drains then return appended end
local waiting, elsewhere, routes = redis.call('LLEN', drains), 0, {}
for k = first_item_key + items + 2, #KEYS do
  elsewhere = elsewhere + redis.call('LLEN', KEYS[k])
end
local enough = tonumber(ARGV[5])
for u = 1, users do
  routes[u] = 0
  if new_for[u] and redis.call('EXISTS', KEYS[2 + 2 * u]) == 0 then
    if waiting >= enough or (waiting >= 1 and waiting + elsewhere >= enough) then
      redis.call('SET', KEYS[2 + 2 * u], ARGV[3], 'EX', ARGV[4])
      redis.call('RPUSH', KEYS[2], ARGV[6 + u])
      redis.call('EXPIRE', KEYS[2], ARGV[4])
      routes[u] = 1
    else
      routes[u] = 2
      waiting = waiting + 1
    end
  end
end
return {appended, routes}
