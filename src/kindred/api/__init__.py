"""HTTP: Starlette routes that authenticate, decode and answer in Mixpanel's shapes. No SQL here."""
