-- etcd's v3 JSON gateway: read one key (as bench/etcd-load.pl wrote them: mesh/k000001..).
-- ETCD_API is the gateway's prefix (/v3 on etcd 3.4+, /v3beta before).
dofile(os.getenv("BENCH_DIR") .. "/lib.lua")

local path = (os.getenv("ETCD_API") or "/v3") .. "/kv/range"
local json = {["Content-Type"] = "application/json"}

request = function()
	return wrk.format("POST", path, json, '{"key":"' .. base64("mesh/" .. random_key()) .. '"}')
end
