"""`leadq api`: lead lookups, the funnel, server-sent stage changes and the live page."""
