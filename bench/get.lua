-- wrk script for the GET benchmark: each request asks for a random path from a list file, so
-- both servers see the same uniform mix of stored photos.
-- Usage: wrk ... -s bench/get.lua URL -- PATHS_FILE   (env BENCH_LUA_DIR: where wrk_lib.lua is)

dofile(os.getenv("BENCH_LUA_DIR") .. "/wrk_lib.lua")

local reqs = {}

function init(args)
    -- Requests are formatted once: formatting per request would make wrk, which shares the
    -- two cores with the server, the bottleneck.
    for _, path in ipairs(bench_read_lines(args[1])) do
        table.insert(reqs, wrk.format("GET", path))
    end
    math.randomseed(os.time() * 100 + tid)
end

function request()
    return reqs[math.random(#reqs)]
end
