"""The review service: an HTTP interface to the node for the people who run and read it.

``passwords`` and ``sessions`` are who may use it, ``access`` the checks; ``api`` and
``verify`` the JSON operations (documented by the OpenAPI schema at ``/api/openapi.json``),
``pages`` the HTML and its assets, ``web`` the application that joins them; ``server`` runs
it (in ``serve``, or alone in ``seganypet-node review``).
"""
