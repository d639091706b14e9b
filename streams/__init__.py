"""leadq stream processing: Faust app, agents, tables, local broker and CLI."""
