"""The Store pane: the app catalogue, one app's page, running an app, building one.

``page.StorePage`` puts the parts together; each part lives in its own module so it can
be read (and tested) alone: ``catalogue_view`` (browse by category, search; also the
Installed tab), ``app_page`` (what an app is and does, Install/Update/Remove),
``run_view`` (the app's form, the streamed or structured result), ``result_view``
(structured results as fields or a table), ``builder`` (a new app from a form, with a
live preview of its prompt) and ``inputs`` (the form fields an app's inputs become).

Everything an app says about itself (names, descriptions, labels, examples) comes from a
file anyone may have written: it is shown as plain text only, never rich text, and its
icon is decoded by Qt only after core/apps/icon.py accepted it.
"""
