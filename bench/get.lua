-- wrk script for the GET benchmark: each request asks for a random path from a list file, so
-- both servers see the same uniform mix of stored photos. HEADER ("Name: value") is sent with
-- every request.
-- Usage: wrk ... -s bench/get.lua URL -- PATHS_FILE [HEADER]   (env BENCH_LUA_DIR: where
-- wrk_lib.lua is)

dofile(os.getenv("BENCH_LUA_DIR") .. "/wrk_lib.lua")

local reqs = {}

function init(args)
    local headers = nil
    if args[2] then
        local name, value = args[2]:match("^([^:]+):%s*(.*)$")
        assert(name, "HEADER must be 'Name: value', not " .. args[2])
        headers = {[name] = value}
    end
    -- Requests are formatted once: formatting per request would make wrk, which shares the
    -- two cores with the server, the bottleneck.
    for _, path in ipairs(bench_read_lines(args[1])) do
        table.insert(reqs, wrk.format("GET", path, headers))
    end
    math.randomseed(os.time() * 100 + tid)
end

function request()
    return reqs[math.random(#reqs)]
end
