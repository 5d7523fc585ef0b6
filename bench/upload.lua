-- wrk script for the upload benchmark: bodies are corpus JPEGs, each made unique by a JPEG COM
-- segment after the SOI marker carrying a counter, so that kho's per-user dedup never matches.
-- Usage: wrk ... -s bench/upload.lua URL -- kho|dav FILES_LIST NONCE [TOKEN]
--   kho: POST /api/v1/images?visibility=public with the bearer TOKEN
--   dav: PUT /dav/NONCE/TID/N.jpg (nginx WebDAV)
-- (env BENCH_LUA_DIR: where wrk_lib.lua is)

dofile(os.getenv("BENCH_LUA_DIR") .. "/wrk_lib.lua")

local mode, nonce, head_fmt, com_marker
local rests = {}
local counter = 0
statuses = {}

-- The counter is printed at a fixed width, so every COM segment has the same length and the
-- request can be assembled in a single concatenation: wrk shares the cores with the server, and
-- each extra copy of a 200 KB body costs it more CPU than the server spends on the upload.
local function tag(n)
    return string.format("kho-bench %s %04d %012d", nonce, tid, n)
end

function init(args)
    mode, nonce = args[1], args[3]
    assert(mode == "kho" or mode == "dav", "mode must be kho or dav")
    local com_len = #tag(0) + 2
    com_marker = "\255\216\255\254" .. string.char(math.floor(com_len / 256), com_len % 256)
    local extra = "Content-Type: image/jpeg\r\n"
    if mode == "kho" then
        extra = extra .. "Authorization: Bearer " .. assert(args[4], "kho mode needs a token") ..
            "\r\n"
    end
    head_fmt = (mode == "kho" and "POST" or "PUT") .. " %s HTTP/1.1\r\nHost: " ..
        wrk.headers["Host"] .. "\r\n" .. extra .. "Content-Length: %d\r\n\r\n"
    for _, path in ipairs(bench_read_lines(args[2])) do
        local f = assert(io.open(path, "rb"))
        local body = f:read("*a")
        f:close()
        assert(body:sub(1, 2) == "\255\216", path .. " is not a JPEG")
        table.insert(rests, {rest = body:sub(3), len = #body + 2 + com_len})
    end
end

function request()
    counter = counter + 1
    local b = rests[(counter + tid * 7) % #rests + 1]
    local path = "/api/v1/images?visibility=public"
    if mode == "dav" then
        path = string.format("/dav/%s/%d/%d.jpg", nonce, tid, counter)
    end
    return string.format(head_fmt, path, b.len) .. com_marker .. tag(counter) .. b.rest
end

function response(status)
    statuses[status] = (statuses[status] or 0) + 1
end
