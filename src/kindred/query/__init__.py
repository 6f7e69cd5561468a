"""Reports: Mixpanel query semantics, compiled to SQL."""
