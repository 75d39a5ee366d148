-- wrk script of bench/http_vs_peers' durable-POST row: every request merges
-- {"counter": N} (N new each time) into the context of a random user of
-- USERS, so that concurrent writes rarely meet on one context. Also the
-- durable-POST row of bench/security_cost; requests carry the headers given
-- to wrk with -H (Authorization).
--
-- wrk ... -s post.lua URL -- USERS [API_PREFIX]
--   USERS       users u0 .. u(USERS-1), seeded by the script (default 1000)
--   API_PREFIX  the daemon's API prefix (default /api/v1)

local thread_count = 0

function setup(thread)
  thread:set("thread_id", thread_count)
  thread_count = thread_count + 1
end

local users, prefix, counter

function init(args)
  users = tonumber(args[1]) or 1000
  prefix = args[2] or "/api/v1"
  -- Distinct random streams per thread; counters distinct across threads.
  math.randomseed(os.time() * 1000 + (thread_id or 0))
  counter = (thread_id or 0) * 1000000000
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  local user = "u" .. math.random(0, users - 1)
  local body = string.format('{"user_id": "%s", "delta": {"counter": %d}, "tags": ["bench"]}', user, counter)
  return wrk.format(nil, prefix .. "/memory/" .. user, nil, body)
end
