"""What the tools run on, not tools themselves: the CPU thread pool, latency profiles, the token.

- ``offload``: the one shared thread pool for CPU work off the event loop;
- ``latency``: tool latency profiles and per-session seeds;
- ``auth``: the shared token our HTTP services check (the search service and the server's /ws).
"""
