"""Training of the shipped tweet models (``make models``): sentiment (``routing.sentiment``) and the crisis
detector (``routing.crisis``). Reads the development data in ``../shared/data``; writes small artifacts to
``routing/data/`` that are committed. Deterministic: the same data always gives the same files."""
