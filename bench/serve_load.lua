-- wrk script for bench/serve_bench.py: POST /classify with request bodies read from a file, one per line.
-- Every "@ID@" in a body becomes <run>-<thread>-<request number>, so comment ids never repeat across requests.
-- Usage: wrk -s bench/serve_load.lua URL -- BODIES_FILE RUN_TAG

local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_number", thread_count)
end

function init(args)
  bodies = {}
  for line in io.lines(args[1]) do
    bodies[#bodies + 1] = line
  end
  prefix = args[2] .. "-" .. tostring(thread_number) .. "-"
  counter = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  local body = bodies[(counter % #bodies) + 1]:gsub("@ID@", prefix .. counter)
  return wrk.format(nil, "/classify", nil, body)
end
