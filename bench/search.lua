-- Full-text search for one random word of the vocabulary (each is in about 1,300 values), limit 50.
dofile(os.getenv("BENCH_DIR") .. "/lib.lua")

request = function()
	return wrk.format("GET", "/v1/memory?scope=mesh&limit=50&q=" .. word(math.random(0, 1999)), headers)
end
