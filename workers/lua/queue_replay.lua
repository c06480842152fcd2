-- Put a set-aside item back on its user's list (workers/dead_list.py DeadList.replay): at the end
-- (RPUSH: a drain may be handling the first item right now, and pops it when done), past the
-- seen-check, and only if the entry was still in the dead list, removed from it in the same step.
-- KEYS[1]  the dead list (<dead_key>)
-- KEYS[2]  the user's items (<name>:<user>)
-- KEYS[3]  the due index (<name>-due)
-- KEYS[4]  the item's seen marker (<seen_prefix>:<item id>), renewed
-- ARGV[1]  the dead list's entry, exactly    ARGV[2]  the item, as queued
-- ARGV[3]  now (the due time if the list was empty)    ARGV[4]  the user
-- ARGV[5]  the items list's TTL              ARGV[6]  the seen marker's TTL
-- Returns  1 if put back, 0 if the entry was no longer set aside.
-- Atomic: two replays of one entry (two clicks, two operators) must put it back once.
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then
  redis.call('RPUSH', KEYS[2], ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[5])
  redis.call('ZADD', KEYS[3], 'NX', ARGV[3], ARGV[4])
  redis.call('SET', KEYS[4], '1', 'EX', ARGV[6])
  return 1
end
return 0
