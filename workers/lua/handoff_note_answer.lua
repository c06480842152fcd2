-- Count a patient's consecutive "unknown" answers, once per event even if the turn is retried
-- (workers/handoff/store.py HandoffStore.note_answer).
-- KEYS[1]  the streak (handoff:unknowns:<user>): hash {event, count}
-- ARGV[1]  the event id
-- ARGV[2]  '1' if the answer was unknown (the streak grows), '0' if not (it starts again)
-- ARGV[3]  the streak's TTL (seconds)
-- Returns  1 if counted, 0 if this event was counted already.
-- Atomic: the check of the last event and the new count together, or a retried turn counts twice.
if redis.call('HGET', KEYS[1], 'event') == ARGV[1] then return 0 end
local count = 0
if ARGV[2] == '1' then count = (tonumber(redis.call('HGET', KEYS[1], 'count')) or 0) + 1 end
redis.call('HSET', KEYS[1], 'event', ARGV[1], 'count', count)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
