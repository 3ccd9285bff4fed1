-- kubo.study_store: where kubo.study keeps stage outputs. A store has
--   store:write_file(file, datasets)         write a new file of datasets
--                                            {name =, tensor =, [attrs =]}
--   store:read(file, name) -> tensor, attrs  or nil, message
--   store:exists(file) -> boolean
--   store:rename(from, to)                   replace `to` by `from`
--   store:remove(file)                       no error if missing
--   store:mkdir(dir)
-- M.hdf5() keeps files on disk through kubo.h5 and M.memory() keeps them
-- in a Lua table (for tests and dry runs).

local M = {}

local function shell_quote(path)
  return "'" .. path:gsub("'", "'\\''") .. "'"
end

-- Returns a store that writes HDF5 files through kubo.h5.
function M.hdf5()
  local kubo = require "kubo"
  local h5 = kubo.h5
  if h5 == nil or h5.writer == nil or h5.read == nil then
    error("kubo.h5 is not available in this build, so studies cannot be "
          .. "saved to HDF5; pass store = kubo.study.memory_store() to "
          .. "keep outputs in memory", 0)
  end
  local store = {kind = "hdf5"}

  -- Writes all datasets in one kubo.h5.writer transaction, because each
  -- separate kubo.h5.write call would copy the whole file again.
  function store.write_file(_, file, datasets)
    local writer = h5.writer{file = file}
    local ok, err = pcall(function()
      for _, d in ipairs(datasets) do
        writer:write(d.name, d.tensor, d.attrs or {})
      end
    end)
    if not ok then
      writer:discard()
      error(string.format("writing '%s' failed: %s", file, tostring(err)),
            0)
    end
    writer:close()
  end

  function store.read(_, file, name)
    return h5.read(file, name)
  end

  function store.exists(_, file)
    local f = io.open(file, "rb")
    if f then f:close() end
    return f ~= nil
  end

  function store.rename(_, from, to)
    local ok, err = os.rename(from, to)
    if not ok then
      error(string.format("renaming '%s' to '%s' failed: %s", from, to,
                          tostring(err)), 0)
    end
  end

  function store.remove(_, file)
    os.remove(file)
  end

  function store.mkdir(_, dir)
    local ok = os.execute("mkdir -p " .. shell_quote(dir))
    if not ok then
      error(string.format("creating the folder '%s' failed", dir), 0)
    end
  end

  return store
end

-- Returns a store that keeps files as Lua tables in store.files, keyed by
-- path. Tensors are copied on write and on read, as a file would.
function M.memory()
  local store = {kind = "memory", files = {}}

  function store.write_file(self, file, datasets)
    local f = {}
    for _, d in ipairs(datasets) do
      local copy = {}
      for k, v in pairs(d.attrs or {}) do copy[k] = v end
      f[d.name] = {tensor = d.tensor:clone(), attrs = copy}
    end
    self.files[file] = f
  end

  function store.read(self, file, name)
    local f = self.files[file]
    if f == nil then return nil, "file '" .. file .. "' not found" end
    local d = f[name]
    if d == nil then
      return nil, string.format("dataset '%s' not found in '%s'", name,
                                file)
    end
    local copy = {}
    for k, v in pairs(d.attrs) do copy[k] = v end
    return d.tensor:clone(), copy
  end

  function store.exists(self, file)
    return self.files[file] ~= nil
  end

  function store.rename(self, from, to)
    if self.files[from] == nil then
      error("renaming '" .. from .. "' failed: file not found", 0)
    end
    self.files[to] = self.files[from]
    self.files[from] = nil
  end

  function store.remove(self, file)
    self.files[file] = nil
  end

  function store.mkdir() end

  return store
end

return M
