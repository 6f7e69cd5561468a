"""The web UI: static pages served at `/`, and the cookie session their fetch() calls carry.

The pages compute nothing themselves: they call the same Query API a script calls, with the
session cookie in place of the secret (`kindred.web.sessions`, checked by
`kindred.api.auth.authenticate_reader`). `kindred.web.ui` holds the routes.
"""
