-- Keep a line of the conversation for the staff note, once per mirrored item however often the
-- item is offered (workers/handoff/store.py HandoffStore.add_transcript).
-- KEYS[1]  the line's marker (handoff:transcribed:<item id>)
-- KEYS[2]  the patient's transcript (handoff:transcript:<user>): list, oldest first
-- ARGV[1]  the line (JSON {who, text, at})
-- ARGV[2]  the marker's TTL (seconds)
-- ARGV[3]  how many lines the transcript keeps (the last ones)
-- ARGV[4]  the transcript's TTL (seconds)
-- Returns  1.
-- Atomic: a retried turn must not add the line twice, and a line must not be marked without being kept.
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[2]) then
  redis.call('RPUSH', KEYS[2], ARGV[1])
  redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
  redis.call('EXPIRE', KEYS[2], ARGV[4])
end
return 1
