-- Take a turn's request for a patient's Oho contact, if there is one and no other drain is making
-- this contact right now (workers/oho_contacts.py take_want).
-- KEYS[1]  the wanted contacts (oho:contacts-wanted): sorted set user -> since
-- KEYS[2]  the user's "being made" marker
-- ARGV[1]  the LINE user
-- ARGV[2]  how long the marker holds (seconds): a contact's three calls, with room
-- Returns  1 if the caller makes the contact now, 0 if there is no want or another drain has it.
-- Atomic: two drains that both see the want and then both set the marker would make it twice.
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2]) then return 1 end
return 0
