"""Test doubles shipped with finr1-core: a Hub-compatible server, a fake OpenAI server, tiny models.

Submodules import their heavy dependencies lazily; import the one you need.
"""
