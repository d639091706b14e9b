"""Tools around the worker: demo, simulator, tail, the article's scenarios, expectations."""
