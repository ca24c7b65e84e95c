"""The ``echo`` service: demos, tests and benchmarks of the job machinery."""
