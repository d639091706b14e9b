"""The functional core: qualification rules as pure functions, no Kafka or Faust imports."""
