"""Test support shipped with the package, for tests/, scripts/bench and ``sendemodul demo-extract``: synthetic
extracts for every profile (:mod:`~sendemodul.testing.extracts`, written by :mod:`~sendemodul.testing.writers` from
:mod:`~sendemodul.testing.people` and :mod:`~sendemodul.testing.values`) and real peers on loopback
(:mod:`~sendemodul.testing.peers`)."""
