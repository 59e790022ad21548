"""Remote engines: OpenAI-compatible servers (vLLM, Triton, llama-server, another LLMOS...)
that a chat or an app can run on instead of the local engine.

``types`` (the configuration, the check, the error kinds), ``registry`` (the file and
the keys), ``remote`` (the client and ``RemoteEngine``), ``service`` (``EnginesService``,
the front). Qt-free; nothing heavy is imported here.
"""
