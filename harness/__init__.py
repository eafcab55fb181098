"""Run Rendezvous locally: worker processes and plain Kafka I/O, for the demo, tests and benches."""
