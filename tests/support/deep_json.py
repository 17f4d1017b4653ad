"""Deeply nested ``manifest.json`` payloads (issue 14, finding 4), shared by the container and the HTTPS tests."""


def deeply_nested_manifests(manifest):
    """The two payloads of the finding, from a real canonical manifest: 60,000 ``[``, and the manifest with
    ``records`` nested 30,000 deep (both under the 64 KiB manifest limit)."""
    deep_records = manifest.replace(b'"records":', b'"records":' + b"[" * 30000, 1)
    value_end = deep_records.index(b",", deep_records.index(b'"records":'))
    deep_records = deep_records[:value_end] + b"]" * 30000 + deep_records[value_end:]
    return {"brackets": b"[" * 60000, "records": deep_records}
