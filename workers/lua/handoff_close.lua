-- Forget a patient's open handoff, only if it is still the given session, and drop the patient
-- from the index of open handoffs with it (workers/handoff/store.py HandoffStore.close).
-- KEYS[1]  the handoff's state (handoff:state:<user>)
-- KEYS[2]  the index of open handoffs (handoff:open): sorted set user -> since
-- ARGV[1]  the session
-- ARGV[2]  the LINE user
-- Returns  1 if closed, 0 if the handoff is another session's (or none is open).
-- Atomic: a new handoff opened between the check and the delete must stay open, and in the index.
if redis.call('HGET', KEYS[1], 'session') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[2])
return 1
