-- Free an RQ scheduler's lock, only if it is still held by the scheduler found dead
-- (workers/maintenance.py free_dead_scheduler_locks).
-- KEYS[1]  the queue's scheduler lock (rq:scheduler-lock:<queue>)
-- ARGV[1]  the holder that stopped beating
-- Returns  1 if the lock was deleted, 0 if someone else holds it (or nobody).
-- Atomic: between a GET and a DEL another scheduler may take the freed lock; it must keep it.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
