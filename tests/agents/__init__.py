"""The faust agents in isolation (faust's test_context), without a broker."""
