-- kubo.params: the parameter overrides given on the kubo command line
-- with --set name=value (see `kubo --help`). The kubo program stores its
-- table in package.loaded["kubo.params"] before any script runs, so this
-- file is loaded only when kubo runs inside another Lua host, where
-- there are no overrides.
return {}
