"""Helpers the tests import: waiting, databases, pulse processes, stand-in servers, proxies,
workloads and factories. Fixtures stay in the conftest modules."""
