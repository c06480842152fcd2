-- Count a phrasing the bot could not answer, once per event and at most a cap per user per day
-- (workers/unanswered.py UnansweredQuestions.record).
-- KEYS[1]  the user's record (unanswered:user:<user>): hash "<day>|<event id>" -> phrasing
-- KEYS[2]  the day's list (unanswered:day:<day>): sorted set phrasing -> count
-- ARGV[1]  the field "<day>|<event id>"
-- ARGV[2]  the phrasing (masked)
-- ARGV[3]  the day (YYYY-MM-DD)
-- ARGV[4]  the oldest day kept: older fields of the record are dropped on the way
-- ARGV[5]  the day list's TTL (seconds)
-- ARGV[6]  the record's TTL (seconds)
-- ARGV[7]  the cap per user per day
-- Returns  1 if counted, 0 if not (this event counted already, or the user's cap reached).
-- Atomic: a retried turn running beside the first must not count the event twice, nor two events
-- of one user pass the cap together.
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
local today = 0
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  local day = string.sub(field, 1, 10)
  if day < ARGV[4] then redis.call('HDEL', KEYS[1], field)
  elseif day == ARGV[3] then today = today + 1 end
end
if today >= tonumber(ARGV[7]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('ZINCRBY', KEYS[2], 1, ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[5])
return 1
