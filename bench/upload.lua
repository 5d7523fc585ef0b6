-- wrk script for the upload benchmark: bodies are corpus JPEGs, each made unique by a JPEG COM
-- segment after the SOI marker carrying a counter, so that kho's per-user dedup never matches.
-- Usage: wrk ... -s bench/upload.lua URL -- kho|dav FILES_LIST NONCE [TOKEN]
--   kho: POST /api/v1/images?visibility=public with the bearer TOKEN
--   dav: PUT /dav/NONCE/TID/N.jpg (nginx WebDAV)
-- (env BENCH_LUA_DIR: where wrk_lib.lua is)

dofile(os.getenv("BENCH_LUA_DIR") .. "/wrk_lib.lua")

local mode, nonce
local bodies = {}
local headers = {}
local counter = 0
statuses = {}

function init(args)
    mode, nonce = args[1], args[3]
    assert(mode == "kho" or mode == "dav", "mode must be kho or dav")
    for _, path in ipairs(bench_read_lines(args[2])) do
        local f = assert(io.open(path, "rb"))
        local body = f:read("*a")
        f:close()
        assert(body:sub(1, 2) == "\255\216", path .. " is not a JPEG")
        table.insert(bodies, body)
    end
    headers["Content-Type"] = "image/jpeg"
    if mode == "kho" then
        headers["Authorization"] = "Bearer " .. assert(args[4], "kho mode needs a token")
    end
end

function request()
    counter = counter + 1
    local body = bodies[(counter + tid * 7) % #bodies + 1]
    local tag = string.format("kho-bench %s %d %d", nonce, tid, counter)
    local len = #tag + 2
    body = body:sub(1, 2) .. "\255\254" .. string.char(math.floor(len / 256), len % 256) .. tag ..
        body:sub(3)
    if mode == "kho" then
        return wrk.format("POST", "/api/v1/images?visibility=public", headers, body)
    end
    return wrk.format("PUT", string.format("/dav/%s/%d/%d.jpg", nonce, tid, counter), headers, body)
end

function response(status)
    statuses[status] = (statuses[status] or 0) + 1
end
