-- Take the telling of one outcome of an SMS verification request, for one teller at a time
-- (workers/verification/store.py VerificationStore.claim_telling).
-- KEYS[1]  the request's hash (verify:request:<id>)
-- ARGV[1]  the field naming what is told (teller:send, teller:check:<attempt>)
-- ARGV[2]  the teller (a job or a turn)
-- ARGV[3]  now (epoch seconds)
-- ARGV[4]  the lease (seconds): after it, another teller may take over (the first one died)
-- Returns  1 if this teller may tell it, 0 if another holds it within its lease or the request is gone.
-- Atomic: two tellers reading the field before either writes it would both tell the patient.
-- The request must exist: its hash carries the TTL, a field written into a new key would never expire.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local held = redis.call('HGET', KEYS[1], ARGV[1])
if held then
  local who, at = string.match(held, '^(.*)@([%d.]+)$')
  if who ~= ARGV[2] and tonumber(ARGV[3]) - tonumber(at) < tonumber(ARGV[4]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '@' .. ARGV[3])
return 1
