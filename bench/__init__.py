"""`pulse bench`: how fast AccountPulse is, measured from the outside in one run.

Against a broker (PULSE_KAFKA_BOOTSTRAP_SERVERS, else an embedded one) and PostgreSQL, it
generates a seeded workload and measures, each phase on fresh topics, groups and databases:

1. the raw limit: a bare consumer parsing the input topics;
2. throughput from a backlog to committed effects, for `pulse up` and for `pulse ingest` +
   `pulse scoring` as two processes;
3. latency at a fixed offered rate: produce -> visible in the API, produce -> Slack alert
   (with the rated load alone, then also with the load of 6);
4. the ratios of (2) to (1) and to a naive one-transaction-per-event baseline;
5. scoring's peak RSS, its memory per account, and its restart-to-ready time;
6. GET /v1/accounts/{id}/health throughput and p99 under the rated load.

The services run as child processes configured only through PULSE_ variables, as a user
runs them. Progress goes to stderr, the table to stdout, the document to --json.
"""

from bench.errors import BenchError
from bench.options import Options, options, parse_sizes
from bench.run import run_bench

__all__ = ["BenchError", "Options", "options", "parse_sizes", "run_bench"]
