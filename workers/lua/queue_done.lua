-- A handled item's last step in a drain (workers/user_queue.py UserQueue._done): the item off its
-- user's list (if it is still first: items carry their ids, so they are unique), its attempts
-- forgotten, and a look at the next one; if there is none, the drain's end as queue_release.lua
-- does it, in the same step.
-- KEYS[1]  the user's items (<name>:<user>)
-- KEYS[2]  the user's attempts (<name>-attempts:<user>): hash fingerprint -> failed attempts
-- KEYS[3]  the user's drain lock (<name>-lock:<user>)
-- KEYS[4]  the due index (<name>-due)
-- ARGV[1]  the item's fingerprint    ARGV[2]  the drain's lock token
-- ARGV[3]  the user                  ARGV[4]  the item, exactly as queued
-- Returns  {the next item, 1} to go on; {false, 1} the list is empty: the lock released and the
--          user out of the due index; {false, 0} the lease lapsed during the item: nothing more
--          (the drain that took the user over may have handled this item already, and be holding
--          the next one back).
-- Atomic: an item appended between the look at the list and the release would wait unseen, with
-- no drain coming; and a lapsed lock must not be released or the user forgotten.
if redis.call('LINDEX', KEYS[1], 0) == ARGV[4] then
  redis.call('LPOP', KEYS[1])
end
redis.call('HDEL', KEYS[2], ARGV[1])
if redis.call('GET', KEYS[3]) ~= ARGV[2] then
  return {false, 0}
end
local next_item = redis.call('LINDEX', KEYS[1], 0)
if next_item then
  return {next_item, 1}
end
redis.call('DEL', KEYS[3])
redis.call('ZREM', KEYS[4], ARGV[3])
redis.call('DEL', KEYS[2])
return {false, 1}
