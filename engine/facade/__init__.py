"""The parts of ``engine.api.Engine``: a base (settings, database, runtime, transactions) and one mixin
each for definitions, instances, events and queries. Import ``Engine`` from ``engine.api``."""
