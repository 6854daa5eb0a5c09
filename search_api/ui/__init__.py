"""The web interface (issue #18): server-rendered pages under /ui (Jinja2 templates, plain
JavaScript modules, no build step and no third-party assets) that call the same /api/v1 as every
other client, signed in with the browser's session cookie (search_api/browser_session.py)."""
