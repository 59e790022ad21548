"""Hostile chat templates shared by the sandbox and chat-template tests."""

from __future__ import annotations

# Templates that try to reach Python objects outside the sandbox.
SANDBOX_PAYLOADS = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''.__class__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ joiner.__init__.__globals__.os.popen('touch MARKER').read() }}",
    "{{ cycler.__init__.__globals__['os'].system('touch MARKER') }}",
    "{{ self._TemplateReference__context }}",
    "{{ self._TemplateReference__context.cycler.__init__.__globals__.os.popen('touch MARKER') }}",
    "{{ lipsum.__globals__ }}",
    "{{ lipsum.__globals__['os'].popen('touch MARKER').read() }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__.os.popen('touch MARKER').read() }}",
    "{{ namespace(a=1)._Namespace__attrs }}",
    "{{ raise_exception.__globals__ }}",
    "{{ strftime_now.__globals__['__builtins__'] }}",
    "{{ range.__init__ }}",
    "{{ ''|attr('__class__') }}",
    "{{ messages|map(attribute='__class__')|list }}",
    "{{ '{0.__class__.__mro__}'.format('') }}",
    "{{ (messages|map('string')).gi_frame }}",
    "{{ messages[0].get.__self__ }}",
    "{{ config.items() }}",
    "{{ request.application.__globals__ }}",
    "{{ undefined_thing.attribute }}",
    "{% set _ = messages.append({'role': 'user'}) %}",
    "{{ messages.pop() }}",
    "{% include 'MARKER' %}",
    "{% import 'os' as os %}{{ os.popen('touch MARKER') }}",
    "{% extends 'MARKER' %}",
]

# Templates that would run (nearly) forever without the sandbox's time bound.
RUNAWAY = [
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}",
    "{% for i in range(100000) %}{% for j in range(100000) %}"
    "{% set x = messages|map(attribute='role')|list %}{% endfor %}{% endfor %}",
]
