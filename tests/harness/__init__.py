"""Test harness for keycrm-sync: real nginx / Apache / FastCGI workers on loopback.

See servers.py. Import as ``from harness import servers`` (tests/ on sys.path) or
``tests.harness.servers`` (repository root on sys.path).
"""
