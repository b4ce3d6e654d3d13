-- wrk script for bench/coral_bench.py: POST /integrations/coral with bodies signed beforehand, one per line.
-- A line is "<X-Coral-Signature>\t<body>"; the body's newlines (Coral pretty-prints its JSON) are stored as \1.
-- Usage: wrk -s bench/coral_load.lua URL -- SIGNED_BODIES_FILE

function init(args)
  signatures, bodies = {}, {}
  for line in io.lines(args[1]) do
    local tab = line:find("\t", 1, true)
    signatures[#signatures + 1] = line:sub(1, tab - 1)
    bodies[#bodies + 1] = line:sub(tab + 1):gsub("\1", "\n")
  end
  counter = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["User-Agent"] = "Coral Moderation/9.11.0"
end

function request()
  counter = counter + 1
  local i = (counter % #bodies) + 1
  wrk.headers["X-Coral-Signature"] = signatures[i]
  return wrk.format(nil, "/integrations/coral", nil, bodies[i])
end
