-- A drain's last step (workers/user_queue.py UserQueue._release_and_forget): its lock released (if
-- still its own), and the user forgotten in the due index if the list is empty.
-- KEYS[1]  the user's drain lock (<name>-lock:<user>)
-- KEYS[2]  the user's items (<name>:<user>)
-- KEYS[3]  the due index (<name>-due)
-- KEYS[4]  the user's attempts (<name>-attempts:<user>)
-- ARGV[1]  the drain's lock token    ARGV[2]  the user
-- Returns  {1 if the lock was still ours else 0, 1 if the list was empty and the user forgotten else 0}.
-- Atomic: nothing can be appended unseen between the look at the list and the release (its own
-- drain, finding the lock held, left it to this one).
local mine = 0
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  mine = 1
end
if redis.call('LLEN', KEYS[2]) == 0 then
  redis.call('ZREM', KEYS[3], ARGV[2])
  redis.call('DEL', KEYS[4])
  return {mine, 1}
end
return {mine, 0}
