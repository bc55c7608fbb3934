"""The one task model, errors, endpoint specs, validation, forms, timeline, how a task reads."""
