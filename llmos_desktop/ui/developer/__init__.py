"""The Developer page: the engine's API served to other programs, from the window.

``page`` puts it together (switch, port, who may connect, base URL and key, engine
settings); ``snippets_view`` shows the example code of core/engine/snippets.py;
``request_log_view`` the engine's request log.
"""
