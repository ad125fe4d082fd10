"""The `regions` value that means every region enabled in the account.

reclaim.yml takes it (generator.config); the account layer resolves it with DescribeRegions
(generator.aws.fleet). Defined here, below both, so the account layer needs only the
configuration's types, never the module that imports the rule catalog.
"""

ALL_ENABLED = "all-enabled"
