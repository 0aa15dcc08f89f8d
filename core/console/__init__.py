"""The read-only web console for credit controllers (``tradecredit console``; docs/console.md).

Pipelines with their freshness and last runs, a run's per-customer outcomes and reasons, the customers table
with filters and exports, a customer page with the explanation, the history and a chart. It renders the data of
``core.controller`` with the message catalog of ``core.i18n`` (Polish first, English switchable), charts as
server-side SVG (``charts``), no script and no external asset. It changes nothing: the only forms are login and
logout. Built on the web stack of the ``[console]``/``[sandbox]`` extras (starlette, jinja2, uvicorn), which are
imported only when the console is served.
"""
