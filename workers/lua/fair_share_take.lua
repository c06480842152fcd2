-- Let a worker start a job of a hospital unless that hospital already holds its share of the workers
-- of this kind (workers/fair_share.py): at most the live workers less one, at least one.
-- KEYS[1]  the busy workers of this kind: sorted set "<hospital>|<worker>" -> until (epoch seconds)
-- KEYS[2]  the live workers of this kind: sorted set worker -> last seen (epoch seconds)
-- ARGV[1]  now   ARGV[2] the hospital   ARGV[3] the worker   ARGV[4] until when the job may run
-- ARGV[5]  how long a worker counts as live after it was last seen (seconds)
-- Returns  1 if the worker may start the job (it is counted busy for the hospital), 0 if not.
-- Atomic: two workers that both counted one slot free would both take it.
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[5]))
local share = math.max(1, redis.call('ZCARD', KEYS[2]) - 1)
local prefix = ARGV[2] .. '|'
local held = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if string.sub(member, 1, #prefix) == prefix then held = held + 1 end
end
if held >= share then return 0 end
redis.call('ZADD', KEYS[1], ARGV[4], prefix .. ARGV[3])
return 1
