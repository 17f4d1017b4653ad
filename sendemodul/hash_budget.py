"""Which PIN logins get an Argon2id hash: the front's budget of hashes for logins it has no reason to trust yet.

A wrong PIN costs the front one Argon2id hash (OWASP parameters, 20-50 ms of CPU); a refusal before the hash costs
about what nginx spends on a TLS handshake and a 401. Before this budget a storm of wrong PINs from rotating
addresses (issue 25: 200 a second, 10 from each address, so the per-source ban never fires) had the hash pool
spend every idle cycle on them: 13-23 ms of front CPU per refused login, and every guess that got a hash was a
guess tested.

So a login is hashed at once only when its source is **known for the unit**: that unit's PIN (or its cached
login) succeeded from the same network (IPv4 /24, IPv6 /56) within ``auth.known_source_days``. Any other login
must first take one token from each of three buckets (token buckets, refilled evenly over
``auth.hash_budget_seconds``):

- the claimed unit's (``auth.hash_budget_per_unit``): a storm on one unit is hashed about that often per window,
  however many addresses it comes from;
- the source address's (``auth.hash_budget_per_source``): one address spraying many units is held the same way
  (the :class:`~sendemodul.auth.Defender` bans it soon after anyway);
- the whole front's (``auth.hash_budget_total``, never less than ``auth.max_pending_logins``, so a burst of first
  logins that the hash pool would take is not refused by it): a storm spread over many units and addresses cannot
  spend more than that on hashes of wrong PINs.

A login that succeeds gives its tokens back and makes its source known for the unit; only wrong PINs spend the
budget. A login that finds a bucket empty is answered **busy** (:class:`~sendemodul.auth.Throttled`, a
:class:`~sendemodul.auth.Busy`: HTTP 503 with ``Retry-After``, the SSH password refused), the answer a full hash
pool has always given, at once and without reading the store.

What it leaks and what it does not: the decision is made before the store is read, from the claimed unit's name,
the source address and the clock, never from the PIN or from whether the unit exists, so the answer says nothing
about either (an unknown well-formed unit still costs the same hash as a wrong PIN when it gets one). An attacker
learns that it is being throttled, which it knew; one inside a unit's own network can tell, once the unit's bucket
is drained, that the unit logged in from there (its logins are still hashed), nothing more.

What an attacker can do with it: keep a unit's bucket empty and so make logins of that unit from *new* networks busy
while the storm lasts (a full hash pool did that before, for every unit, at a far higher CPU cost). What it cannot:
lock the unit out of the networks it used within ``auth.known_source_days``, of a login cached by
:class:`~sendemodul.auth.VerifiedLogins`, or of its SSH keys (which never reach this checker), nor spend more than
the budget's hashes on its guesses, which also bounds how many guesses are tested at all. Known networks live in
memory only (bounded): after a restart each unit's first login from a network needs a token again.
"""

import collections
import ipaddress


def network_of(source):
    """The network a source address is counted in for :class:`KnownSources`: its /24 (IPv4) or /56 (IPv6), as
    text. A host string that is not an IP address (a test's, or None) stands for itself."""
    if source is None:
        return None
    if ":" not in source:  # a peer's IPv4 address, as the socket gives it (dotted quad): cut without parsing
        head, dot, _ = source.rpartition(".")
        if dot and head.count(".") == 2 and head.replace(".", "").isdigit():
            return f"{head}.0/24"
    try:
        address = ipaddress.ip_address(source)
    except ValueError:
        return source
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 56
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


class Bucket:
    """A token bucket: ``capacity`` tokens, refilled evenly at ``capacity`` per ``seconds``."""

    __slots__ = ("level", "stamp")

    def __init__(self, capacity, now):
        self.level = float(capacity)
        self.stamp = now

    def refill(self, capacity, seconds, now):
        self.level = min(float(capacity), self.level + (now - self.stamp) * capacity / seconds)
        self.stamp = now
        return self.level


class Buckets:
    """One :class:`Bucket` per key, in bounded memory: a bucket that has refilled is dropped (a new one starts
    full), and past ``max_keys`` the least recently used goes. Only a login that takes a token makes an entry, so
    the entries grow no faster than the front's total budget allows."""

    def __init__(self, capacity, seconds, max_keys=50_000):
        self.capacity = capacity
        self.seconds = seconds
        self.max_keys = max_keys
        self._buckets = collections.OrderedDict()

    def available(self, key, now):
        bucket = self._buckets.get(key)
        if bucket is None:
            return self.capacity >= 1
        if bucket.refill(self.capacity, self.seconds, now) >= self.capacity:
            del self._buckets[key]
            return True
        return bucket.level >= 1

    def take(self, key, now):
        bucket = self._buckets.pop(key, None) or Bucket(self.capacity, now)
        bucket.refill(self.capacity, self.seconds, now)
        bucket.level -= 1
        self._buckets[key] = bucket  # most recently used last
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)

    def give_back(self, key, now):
        bucket = self._buckets.get(key)
        if bucket is not None and bucket.refill(self.capacity, self.seconds, now) + 1 >= self.capacity:
            del self._buckets[key]
        elif bucket is not None:
            bucket.level += 1


class KnownSources:
    """(unit, network) pairs whose login succeeded within ``ttl_seconds`` (memory only, bounded)."""

    def __init__(self, ttl_seconds, max_entries=20_000):
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._until = collections.OrderedDict()

    def known(self, unit, network, now):
        until = self._until.get((unit, network))
        if until is None:
            return False
        if until <= now:
            del self._until[(unit, network)]
            return False
        return True

    def remember(self, unit, network, now):
        if network is None or not self.ttl:
            return
        self._until.pop((unit, network), None)
        self._until[(unit, network)] = now + self.ttl
        while len(self._until) > self.max_entries:
            self._until.popitem(last=False)


#: The scopes a refusal is counted under (the ``scope`` label of ``sendemodul_logins_throttled_total``).
SCOPES = ("unit", "source", "total")


class HashBudget:
    """Admits a login to the hash pool, or says which bucket refused it (see the module docstring).

    ``admit(unit, source)`` returns a :class:`Ticket` or, when a bucket is empty, the scope that refused it (one of
    :data:`SCOPES`); ``settle(ticket, ok)`` after the hash gives the tokens back on success and remembers the
    source. All of it runs on the reactor thread, in constant time per login."""

    def __init__(self, clock, *, seconds, per_unit, per_source, total, known_days):
        self.clock = clock
        self.units = Buckets(per_unit, seconds)
        self.sources = Buckets(per_source, seconds)
        self.total = Buckets(total, seconds, max_keys=1)
        self.known = KnownSources(known_days * 86400)

    def admit(self, unit, source):
        now = self.clock.seconds()
        network = network_of(source)
        if self.known.known(unit, network, now):
            return Ticket(unit, source, network, spent=False)
        for scope, buckets, key in self._scopes(unit, source):
            if not buckets.available(key, now):
                return scope
        for _, buckets, key in self._scopes(unit, source):
            buckets.take(key, now)
        return Ticket(unit, source, network, spent=True)

    def refund(self, ticket):
        """A login admitted but never hashed (the hash pool was full, or the store failed): its tokens go back."""
        if ticket.spent:
            now = self.clock.seconds()
            for _, buckets, key in self._scopes(ticket.unit, ticket.source):
                buckets.give_back(key, now)

    def settle(self, ticket, ok):
        """After the hash: a success gives the tokens back and makes the source's network known for the unit."""
        if ok:
            self.refund(ticket)
            self.known.remember(ticket.unit, ticket.network, self.clock.seconds())

    def passed(self, unit, source):
        """A login that passed without a hash (:class:`~sendemodul.auth.VerifiedLogins`): its network is known."""
        self.known.remember(unit, network_of(source), self.clock.seconds())

    def _scopes(self, unit, source):
        """(scope, buckets, key) for each bucket a login takes from (no source bucket for a login without a source
        address, which the :class:`~sendemodul.auth.Defender` does not score either)."""
        scopes = [("unit", self.units, unit), ("total", self.total, None)]
        if source is not None:
            scopes.insert(1, ("source", self.sources, source))
        return scopes


class Ticket:
    """A login admitted to the hash pool: whether it took tokens (``spent``) and what to settle them against."""

    __slots__ = ("network", "source", "spent", "unit")

    def __init__(self, unit, source, network, *, spent):
        self.unit = unit
        self.source = source
        self.network = network
        self.spent = spent
