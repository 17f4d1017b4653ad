"""The control rules: the checks of SSB's control program that can run on the municipality's side, driven by a
register's profile, streaming over the extract.

    from sendemodul.profiles.rules.checker import run_checks
    report = run_checks(load_profile("11CF", 2026), stream, identity.parse_unit("0301-12-958935420", 2026))
    report.exit_code    # 0 OK/INFO, 1 WARNING, 2 ERROR/FATAL

Rules (id, severity): docs/profiles.md has the full table.

- Shape, FATAL: ``RECORD_LENGTH``, ``TAB`` (fixed width), ``XML`` (not well-formed, wrong structure). A FATAL finding
  stops every other check: the report then lists only FATAL findings (all of them), so the file's shape gets fixed
  first, as in SSB's program.
- Fields, ERROR: ``MANDATORY``, ``INTEGER``, ``DATE``, ``CODE``, ``LENGTH``, ``SCHEMA`` (XML: unknown attribute,
  element or text); the unit: ``KOMMUNENR``, ``BYDEL`` (Oslo 01-15, and the unit's own bydel if it reports per bydel;
  blank or 00 elsewhere), ``ORGNR``; the year: ``VERSION`` (VERSION + 2000 = periode; XML: Versjon = periode).
- Identifiers: ``ID_MISSING``, ``ID_INVALID`` (names the class: check digits, date, format), ``ID_IN_DATA`` (XML:
  an identifier in another attribute or in text, where it would reach SSB; fixed-width fields other than the
  identifier fields are too narrow to hold one), ``DUPLICATE_ID``, ``DUPLICATE`` (journalnummer and other unique
  fields): ERROR. ``BIRTHDATE`` (birth date field differs from the fødselsnummer's date): WARNING.
  ``ID_SYNTHETIC``: one INFO summary when synthetic IDs are allowed (tests), else a WARNING per record (production).
  ``ID_PLACEHOLDER``: one INFO summary.
- The register's consistency rules from its profile (ids like ``IPLOS-TIMER``; 15F: SSB's ids like
  ``Individ02a``), with the profile's severity.
- 11F and 11CF: SSB's K-controls over each record (:mod:`~sendemodul.profiles.rules.sosial`), under SSB's ids
  (``K015``...) and severities; the profile's ``fnr_rule`` makes K005 SSB's for the year.
- 15F: SSB's barnevern controls over a whole ``Individ`` (:mod:`~sendemodul.profiles.rules.barnevern`), under SSB's
  control ids (``Individ06``, ``Tiltak02d`` ...) and severities; the general rules' findings count under SSB's control
  too (``Finding.control``: ``SCHEMA`` in an ``Individ`` is ``Individ01``), and the report groups by it.
- ``EMPTY``: WARNING when there are no records (a "no participants" delivery is ``encrypt --empty``).

Privacy: a finding names its row by line number and journalnummer, never by an identifier, and never echoes a value
longer than 4 characters, so an identifier in the wrong column cannot leak into a report either. A journalnummer that
looks like an identifier is not shown. Duplicates are found from 64-bit keyed hashes (a random key per run, never
written anywhere) spilled to unnamed temporary files and resolved at the end in bounded memory
(:class:`~sendemodul.profiles.rules.duplicates.FirstSeen`), not from the identifiers themselves; DUPLICATE_ID and
DUPLICATE findings therefore come after the per-record findings, in line order.

The modules, one concern each:

- :mod:`~sendemodul.profiles.rules.checker`: :func:`run_checks` and :class:`Checker`, which run the rules below over
  an extract;
- :mod:`~sendemodul.profiles.rules.report`: :class:`Severity`, :class:`Finding`, :class:`Report` (text, JSON, HTML);
- :mod:`~sendemodul.profiles.rules.fields`: the field rules and :func:`allowed_bydeler`;
- :mod:`~sendemodul.profiles.rules.consistency`: the register's cross-field rules, compiled;
- :mod:`~sendemodul.profiles.rules.duplicates`: duplicate values and journalnummer in bounded memory;
- :mod:`~sendemodul.profiles.rules.records`: what every kind of extract shares (identifiers, duplicates, summaries);
- :mod:`~sendemodul.profiles.rules.fixed_records` and :mod:`~sendemodul.profiles.rules.xml_records`: the record rules
  of fixed-width and XML extracts; :mod:`~sendemodul.profiles.rules.fixed_block`: the fixed-width rules over a block
  of records at a time (numpy), which hands any record not certainly clean to the per-record rules;
- :mod:`~sendemodul.profiles.rules.sosial`: SSB's controls of 11F and 11CF, which ``fixed_records`` runs for a
  profile with ``controls = "sosialhjelp"`` or ``"kvalifisering"``, compiled from the register's rule table
  (``profiles/<REGISTER>.controls.json``) by :mod:`~sendemodul.profiles.rules.rule_table` (with ``rule_table_file``,
  ``rule_values``, ``rule_compiler`` and ``rule_operators``);
- :mod:`~sendemodul.profiles.rules.barnevern`: SSB's barnevern controls, which ``xml_records`` runs for a profile
  with ``controls = "barnevern"``: the register's rule table (``profiles/15F.controls.json``) compiled by
  :mod:`~sendemodul.profiles.rules.element_table` (with ``element_expr``), and what is code beside it
  (``barnevern_facts``, ``barnevern_ids``).
"""
