"""All that touches faust-streaming's private API: fixes, bulk restore, current event, buffer."""
