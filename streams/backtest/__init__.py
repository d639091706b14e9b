"""`leadq backtest`: replay a recorded history through rulesets and score them against outcomes."""
