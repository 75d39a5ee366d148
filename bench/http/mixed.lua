-- wrk script of `bench/http_vs_peers --soak`: a mixed load over USERS users,
-- each request for a random user; a fraction POST_PERCENT of them merge
-- {"counter": N} (N new each time), the others GET the user's head.
-- bench/security_cost runs it with POST_PERCENT 0, GETs only: they carry
-- the headers given to wrk with -H (Authorization), the POSTs do not.
--
-- wrk ... -s mixed.lua URL -- USERS POST_PERCENT [API_PREFIX]

local thread_count = 0

function setup(thread)
  thread:set("thread_id", thread_count)
  thread_count = thread_count + 1
end

local users, post_percent, prefix, counter

function init(args)
  users = tonumber(args[1]) or 1000
  post_percent = tonumber(args[2]) or 20
  prefix = args[3] or "/api/v1"
  math.randomseed(os.time() * 1000 + (thread_id or 0))
  counter = (thread_id or 0) * 1000000000
end

local post_headers = {["Content-Type"] = "application/json"}

function request()
  local user = "u" .. math.random(0, users - 1)
  local path = prefix .. "/memory/" .. user
  if math.random(1, 100) <= post_percent then
    counter = counter + 1
    local body = string.format('{"user_id": "%s", "delta": {"counter": %d}, "tags": ["soak"]}', user, counter)
    return wrk.format("POST", path, post_headers, body)
  end
  return wrk.format("GET", path)
end
