-- GET one entry, a random key of the 100,000.
dofile(os.getenv("BENCH_DIR") .. "/lib.lua")

request = function()
	return wrk.format("GET", "/v1/memory/mesh/" .. random_key(), headers)
end
