"""The tool plugins: one module per tool (tools/registry.py lists them)."""
