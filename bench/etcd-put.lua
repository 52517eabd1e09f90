-- etcd's v3 JSON gateway: write a random key with a value of the loaded shape and size.
dofile(os.getenv("BENCH_DIR") .. "/lib.lua")

local path = (os.getenv("ETCD_API") or "/v3") .. "/kv/put"
local json = {["Content-Type"] = "application/json"}
local values, counter = {}, 0

function prepare()
	for i = 1, 256 do
		values[i] = text()
	end
end

request = function()
	counter = counter + 1
	local v = string.format('{"n":%d,"text":"%s"}', (tid or 0) * 1000000000 + counter, values[math.random(1, #values)])
	return wrk.format("POST", path, json,
		'{"key":"' .. base64("mesh/" .. random_key()) .. '","value":"' .. base64(v) .. '"}')
end
