"""`leadq rules learn`: learn signal points and the SQL threshold from a history and outcomes."""
