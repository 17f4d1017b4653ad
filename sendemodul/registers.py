"""The registers that sendemodul carries (DOMAIN.md, "Who is who"): one list for every module that checks a register
name. Each has a profile a year in ``sendemodul/profiles/``."""

#: IPLOS and the KOSTRA person-level extracts 11F, 11CF and 15F.
REGISTERS = ("IPLOS", "11F", "11CF", "15F")
