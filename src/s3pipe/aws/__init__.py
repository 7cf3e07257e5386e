"""Real AWS, safe by construction: what the ``aws`` backend adds to a deploy and what cleans up after it.

- :mod:`.run`: the run's id and the tags every resource of the run carries (``s3pipe:run``, ``s3pipe:stack``)
- :mod:`.isolation`: a fresh name prefix the module must take, the provider pinned to the account,
  no stack applied over what an earlier run left
- :mod:`.adoption`: a plan that would adopt an existing resource (SQS, SNS, S3 in us-east-1) is refused
- :mod:`.leftovers`: what a failed destroy left, from the state and by tag, and the command that finishes it
- :mod:`.sweep`: ``s3pipe aws sweep --run <id>``, tag-based, dry-run unless ``--yes``
- :mod:`.pacing`: CloudWatch Logs reads paced to the account's quota, slower while throttled
- :mod:`.cli`: the ``s3pipe aws`` commands
"""
