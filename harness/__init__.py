"""The parts the tests and the benchmark share: fresh databases and topics, the environment of a
child `pulse` process, the Slack stand-in, and the synthetic data vocabulary."""
