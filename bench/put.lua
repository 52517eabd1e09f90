-- PUT a new version of a random key: a value of the loaded shape (about 200 bytes) whose "n" is
-- never the same twice, so no write is the no-op of an unchanged value.
dofile(os.getenv("BENCH_DIR") .. "/lib.lua")

local texts, counter = {}, 0

function prepare()
	for i = 1, 256 do
		texts[i] = text()
	end
	headers["Content-Type"] = "application/json"
end

request = function()
	counter = counter + 1
	local body = string.format('{"value":{"n":%d,"text":"%s"}}', (tid or 0) * 1000000000 + counter,
		texts[math.random(1, #texts)])
	return wrk.format("PUT", "/v1/memory/mesh/" .. random_key(), headers, body)
end
