"""Everything about talking to CLOVA NSML: the client, request signing, title rules and a simulator.

Plain Python: nothing here imports Django, `keys` or `portal` (an import-linter contract checks it).
"""
