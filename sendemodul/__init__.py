"""sendemodul: secure double-blind transfer of municipal statistics to SSB via the TPF."""

__version__ = "0.1.0"
