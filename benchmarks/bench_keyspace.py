"""Cost of building a validated key versus a bare f-string (the hand-built baseline).

Keys are built on the XP hot path (one cooldown and one total per message), so validation must
stay cheap. Both sides run in this process, in the same run, interleaved to share conditions.
"""

from __future__ import annotations

import json
import timeit

from townsquare.core.keyspace import Keyspace

ROUNDS = 5
NUMBER = 200_000


def main() -> None:
    keyspace = Keyspace("ts")
    guild, member = 81_384_788_765_712_384, 80_351_110_224_678_912

    def validated() -> str:
        return keyspace.key("xp_awarded", guild, member)

    def baseline() -> str:
        return f"ts:xp_awarded:{guild}:{member}"  # keyspace: not a key (benchmark baseline)

    assert validated() == baseline()
    ours, theirs = [], []
    for _ in range(ROUNDS):
        ours.append(min(timeit.repeat(validated, number=NUMBER, repeat=1)))
        theirs.append(min(timeit.repeat(baseline, number=NUMBER, repeat=1)))
    keys_per_second = NUMBER / min(ours)
    baseline_per_second = NUMBER / min(theirs)
    print(f"validated keys: {keys_per_second:,.0f}/s, f-string keys: {baseline_per_second:,.0f}/s")
    print(
        json.dumps(
            {
                "benchmark": "keyspace_key_build",
                "value": round(keys_per_second),
                "unit": "keys/s",
                "baseline": round(baseline_per_second),
                "ratio": round(keys_per_second / baseline_per_second, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
