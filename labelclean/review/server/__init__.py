"""`labelclean review --serve`: a local web app that turns suspects into decisions.

Modules: ``index`` (sample_id lookups over sorted Arrow columns), ``data`` (what the app
shows: suspects worst first, filters, pages, counts), ``decide`` (one decision at a time
into W/decisions.parquet, under the workdir lock), ``neighbours`` (the nearest samples of
each suspect, cached in W/review/), ``thumbs`` (thumbnails on demand, cached in W/thumbs/),
``app`` (the Starlette routes, token check), ``serve`` (uvicorn, the printed URL) and
``static/`` (the dependency-free front end). Starlette and uvicorn are imported only here,
so ``labelclean --help`` stays light.
"""
