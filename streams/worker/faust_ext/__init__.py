"""All that touches faust-streaming's private API: bug fixes, bulk restore, current event."""
