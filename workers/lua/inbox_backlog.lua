-- The LINE inbox's backlog for /metrics (workers/metrics_state.py): users waiting, events waiting
-- and when the oldest first event was received.
-- KEYS[1]  the inbox's due index (<prefix>line:inbox-due): the users with events
-- ARGV[1]  how many users to read at most (the first by due time)
-- ARGV[2]  the start of a user's inbox key, the hospital's prefix included (<prefix>line:inbox:)
-- ARGV[3]  the field of an event holding when the webhook received it (epoch seconds)
-- Returns  {users in the due index, events of the users read, the oldest receipt as a string (0: none)}.
-- Atomic: the three figures of one moment (and one round trip for the scrape). Reads only; the inbox
-- keys are named inside the script from the due index, as the sweeper names them.
local users = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
local events, oldest = 0, 0
for _, user in ipairs(users) do
  local key = ARGV[2] .. user
  events = events + redis.call('LLEN', key)
  local first = redis.call('LINDEX', key, 0)
  if first then
    local ok, item = pcall(cjson.decode, first)
    local at = ok and type(item) == 'table' and tonumber(item[ARGV[3]])
    if at and (oldest == 0 or at < oldest) then oldest = at end
  end
end
return {redis.call('ZCARD', KEYS[1]), events, tostring(oldest)}
