"""Test support shipped with the package, for tests/ and scripts/bench: synthetic extracts for every profile
(:mod:`~sendemodul.testing.extracts`, built from :mod:`~sendemodul.testing.people` and
:mod:`~sendemodul.testing.field_values`) and real peers on loopback (:mod:`~sendemodul.testing.peers`)."""
