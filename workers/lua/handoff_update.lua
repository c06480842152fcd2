-- Change (or delete) a patient's open handoff, only if it is still the given session
-- (workers/handoff/store.py HandoffStore.update).
-- KEYS[1]    the handoff's state (handoff:state:<user>): hash HandoffState
-- ARGV[1]    the session
-- ARGV[2]    the state's TTL (seconds), renewed with each change
-- ARGV[3..]  field, value, field, value ...; none: the state is deleted
-- Returns    1 if changed, 0 if the handoff is another session's (or none is open).
-- Atomic: a handoff closed and opened again in between must not get the old session's fields.
if redis.call('HGET', KEYS[1], 'session') ~= ARGV[1] then return 0 end
if #ARGV == 2 then redis.call('DEL', KEYS[1]) return 1 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
