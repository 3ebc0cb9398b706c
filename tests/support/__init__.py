"""What the tests share: fixtures (as pytest plugins) and helpers. No tests live here, and no
test module imports another test module: a helper two tests need belongs in this package.

- `sandbox`: the loopback Discord fixtures (`sandbox`, `info`, `bot`, `recorder`, `http`,
  `raw_gateway`) and the control API helper (`control`).
- `world`: lookups in the sandbox's world (`demo_guild`, `channel_named`, `role_named`,
  `user_named`).
- `discord`: the slash-command driver (`Discord`, fixture `discord`).
- `waiting`, `workers`, `shards`, `pipeline`, `services`: polling, a running worker, a running
  shard, the whole XP pipeline, the HTTP service on a port.
- `xp`, `console`, `web`: XP records and reference model, console data, dashboard logins.
- `serve_http`, `shard_worker`: scripts that tests run as child processes.
"""
