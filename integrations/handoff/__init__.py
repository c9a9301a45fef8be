"""Hand-off of a mention to a CRM or helpdesk: a case created there and linked on the mention.

``base.py`` holds what crosses to a backend (the case draft, the case, the one error), ``generic.py`` and
``hubspot.py`` are the two backends, ``services.py`` the actions, ``selectors.py`` what people see."""
