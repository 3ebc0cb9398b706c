"""What the tests share: fixtures (as pytest plugins) and helpers. No tests live here, and no
test module imports another test module: a helper two tests need belongs in this package.

Plugins (loaded by `pytest_plugins` in tests/conftest.py, so every test may ask for their
fixtures by name):

- `sandbox`: the loopback Discord (`sandbox`, `info`, `bot`, `recorder`, `http`, `raw_gateway`,
  `live`) and the control API (`control`, `use_command`, `inject`, `post_message`).
- `workers`: `worker`, `producers`, `producer`; `running_worker`, `doomed_worker`.
- `discord`: the slash-command driver (`Discord`, `Answer`, fixture `discord`).
- `bot`: the bot answering commands through the HTTP service (`internal_url`, `bot_running`,
  `totals`).
- `pipeline`: the whole XP pipeline around the sandbox (`stack`, `SteppedClock`, chat plans).
- `valkey`: `private_valkey`, a server of the module's own.

Helpers: `world` (`demo_guild`, `channel_named`, `role_named`, `user_named`), `waiting`
(`wait_until`), `shards`, `settings`, `services`, `xp`, `console`, `web`, `paths`,
`tcp_proxy` (a loopback proxy a test can cut, for a backend that goes away).
Scripts that tests run as child processes: `serve_http`, `shard_worker`. Shared sandbox
scenarios: `scenarios/`. docs/development.md describes the layout.
"""
