-- Take a user's contributions off the daily counts and out of their record (PDPA erasure;
-- workers/unanswered.py forget_user).
-- KEYS[1]     the user's record (unanswered:user:<user>)
-- KEYS[i + 1] the day's list of ARGV[i]
-- ARGV[i]     a field of the record ("<day>|<event id>")
-- Returns     how many fields were removed. Each field still in the record is removed and its
--             phrasing taken off that day's count; a list that expired meanwhile is not re-created.
-- Atomic: a field read and then removed must be taken off the count exactly once, even if a
-- second erasure (or the record's own clean-up) runs at the same time.
local removed = 0
for i, field in ipairs(ARGV) do
  local said = redis.call('HGET', KEYS[1], field)
  if said then
    redis.call('HDEL', KEYS[1], field)
    removed = removed + 1
    if redis.call('ZSCORE', KEYS[i + 1], said) then
      if tonumber(redis.call('ZINCRBY', KEYS[i + 1], -1, said)) <= 0 then redis.call('ZREM', KEYS[i + 1], said) end
    end
  end
end
return removed
